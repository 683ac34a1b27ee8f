/* consent: Google Consent Mode v2 defaults, run before any Google tag. The update follows the
   choice the server verified (data-granted); the cookie itself is never read here. */
(function () {
  var me = document.currentScript, w = window;
  var map = JSON.parse(me.getAttribute("data-mapping"));
  var granted = JSON.parse(me.getAttribute("data-granted") || "null");
  w.dataLayer = w.dataLayer || [];
  function gtag() { w.dataLayer.push(arguments); }
  var denied = { wait_for_update: 500 }, upd = {}, k;
  for (k in map) denied[k] = "denied";
  gtag("consent", "default", denied);
  if (!granted) return;
  for (k in map) upd[k] = granted.indexOf(map[k]) >= 0 ? "granted" : "denied";
  gtag("consent", "update", upd);
})();
