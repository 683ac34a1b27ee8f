/* The Meridian Courier's own audience measurement.
 * Counts one page view per page load: path, referrer, page language and time, sent to the
 * site's own /collect endpoint. A first-party id in the news_uid cookie tells returning
 * browsers apart. The page marks this script data-consent-category="analytics", so it only
 * runs once the visitor agrees to audience measurement.
 */
(function () {
  "use strict";

  var COOKIE = "news_uid";
  var MAX_AGE = 395 * 24 * 60 * 60; // 13 months, the usual ceiling for audience-measurement cookies
  var ENDPOINT = "/collect";

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) {
        return decodeURIComponent(parts[i].slice(eq + 1));
      }
    }
    return "";
  }

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) {
      hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return hex;
  }

  function rememberVisitor() {
    var uid = readCookie(COOKIE) || newId();
    var cookie = COOKIE + "=" + uid + "; Max-Age=" + MAX_AGE + "; Path=/; SameSite=Lax";
    if (location.protocol === "https:") {
      cookie += "; Secure";
    }
    document.cookie = cookie;
    return uid;
  }

  function send(view) {
    // text/plain keeps the beacon a simple request; the server parses the JSON itself.
    var body = JSON.stringify(view);
    if (navigator.sendBeacon && navigator.sendBeacon(ENDPOINT, new Blob([body], { type: "text/plain" }))) {
      return;
    }
    if (window.fetch) {
      fetch(ENDPOINT, {
        method: "POST",
        body: body,
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "text/plain" }
      }).catch(function () {});
    }
  }

  send({
    path: location.pathname,
    referrer: document.referrer,
    lang: document.documentElement.lang,
    ts: new Date().toISOString(),
    uid: rememberVisitor()
  });
})();
