/* consent: Google Consent Mode v2 defaults, run before any Google tag. The update follows the
   choice the server verified (data-granted); the cookie itself is never read here. With
   regions, data-regions gives per-region defaults (Google's region parameter). */
(function () {
  var me = document.currentScript, w = window, k;
  function read(name, empty) { return JSON.parse(me.getAttribute(name) || empty); }
  var map = read("data-mapping"), granted = read("data-granted", "null");
  var regions = read("data-regions", "null"), opts = read("data-options", "{}");
  w.dataLayer = w.dataLayer || [];
  function gtag() { w.dataLayer.push(arguments); }
  function defaults(on, region) {
    var d = { wait_for_update: 500 };
    for (k in map) d[k] = on && !(w.navigator.globalPrivacyControl && regions.gpc.indexOf(map[k]) >= 0) ? "granted" : "denied";
    if (region) d.region = region;
    gtag("consent", "default", d);
  }
  defaults(regions && regions.other === "granted");
  if (regions && regions.granted.length) defaults(true, regions.granted);
  if (regions && regions.denied.length) defaults(false, regions.denied);
  for (k in opts) gtag("set", k, opts[k]);
  if (!granted) return;
  var upd = {};
  for (k in map) upd[k] = granted.indexOf(map[k]) >= 0 ? "granted" : "denied";
  gtag("consent", "update", upd);
})();
