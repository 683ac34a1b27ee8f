/* consent: Google Consent Mode v2 defaults, run before any Google tag. */
(function () {
  var me = document.currentScript, w = window;
  var map = JSON.parse(me.getAttribute("data-mapping")), name = me.getAttribute("data-cookie");
  var version = me.getAttribute("data-version"), gpc = me.getAttribute("data-gpc");
  w.dataLayer = w.dataLayer || [];
  function gtag() { w.dataLayer.push(arguments); }
  var denied = { wait_for_update: 500 }, granted = null, k;
  for (k in map) denied[k] = "denied";
  gtag("consent", "default", denied);
  document.cookie.split(/;\s*/).forEach(function (c) {
    if (c.indexOf(name + "=") !== 0) return;
    try {
      var p = JSON.parse(atob(c.slice(name.length + 1).split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
      if (p.v === version) granted = p.g;
    } catch (e) { /* unreadable cookie: stay denied */ }
  });
  if (!granted) return;
  var upd = {};
  for (k in map) upd[k] = granted.indexOf(map[k]) >= 0 && map[k] !== gpc ? "granted" : "denied";
  gtag("consent", "update", upd);
})();
