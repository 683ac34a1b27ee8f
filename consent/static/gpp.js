/* consent: the IAB GPP CMP API (version 1.1) as window.__gpp, for ad tags that read the
   visitor's US privacy choices. The string is computed on the server; this only serves it,
   and fetches it again after a decision taken without a reload. */
(function () {
  "use strict";
  var N = __CONSENT_NAMES__, w = window, doc = document, me = doc.currentScript;
  var d = JSON.parse(me.getAttribute("data-gpp"));
  var listeners = {}, next = 1;
  var queued = w.__gpp && w.__gpp.queue;

  function ping() {
    var sids = d.applicableSections, names = [];
    for (var k in d.parsedSections) names.push(k);
    return {
      gppVersion: "1.1", cmpStatus: "loaded", cmpDisplayStatus: "hidden", signalStatus: "ready",
      supportedAPIs: ["7:usnat", "8:usca", "9:usva", "10:usco", "11:usut", "12:usct"],
      cmpId: d.cmpId, sectionList: sids[0] > 0 ? sids.slice() : [],
      applicableSections: sids.slice(), gppString: d.gppString,
      parsedSections: JSON.parse(JSON.stringify(d.parsedSections))
    };
  }

  function event(name, data, id) {
    return { eventName: name, listenerId: id, data: data, pingData: ping() };
  }

  function api(command, callback, parameter) {
    var section, parts;
    if (typeof callback !== "function") return;
    switch (command) {
      case "ping": return callback(ping(), true);
      case "addEventListener":
        var id = next++;
        listeners[id] = callback;
        callback(event("listenerRegistered", true, id), true);
        return callback(event("signalStatus", "ready", id), true);
      case "removeEventListener":
        var had = parameter in listeners;
        delete listeners[parameter];
        return callback(had, true);
      case "hasSection":
        return callback(Object.prototype.hasOwnProperty.call(d.parsedSections, parameter), true);
      case "getSection":
        section = d.parsedSections[parameter];
        return callback(section ? JSON.parse(JSON.stringify(section)) : null, true);
      case "getField":
        parts = String(parameter).split(".");
        section = d.parsedSections[parts[0]];
        return callback(section && parts[1] in section ? section[parts[1]] : null, true);
      default: return callback(null, false);
    }
  }
  w.__gpp = api;
  if (queued) for (var i = 0; i < queued.length; i++) api.apply(null, queued[i]);

  // Frames of ad partners ask through postMessage, finding this window by its named frame.
  function locate() {
    if (w.frames.__gppLocator) return;
    var locator = doc.createElement("iframe");
    locator.name = "__gppLocator";
    locator.hidden = true;
    locator.title = "GPP";
    doc.body.appendChild(locator);
  }
  if (doc.body) locate(); else doc.addEventListener("DOMContentLoaded", locate);
  w.addEventListener("message", function (ev) {
    var call = ev.data && ev.data.__gppCall;
    if (!call || !ev.source) return;
    api(call.command, function (value, ok) {
      ev.source.postMessage({ __gppReturn: { returnValue: value, success: ok, callId: call.callId } }, "*");
    }, call.parameter);
  });

  // A decision taken by the banner script changes the string: the server's state has it.
  doc.addEventListener(N.event, function () {
    fetch(d.stateUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s || !s.gpp) return;
        d.gppString = s.gpp.gppString;
        d.applicableSections = s.gpp.applicableSections;
        d.parsedSections = s.gpp.parsedSections;
        for (var id in listeners) listeners[id](event("sectionChange", d.applicableSections, +id), true);
      }, function () {});
  });
})();
