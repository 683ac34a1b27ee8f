/* consent: the IAB GPP CMP API (version 1.1) as window.__gpp, for ad tags that read the
   visitor's US privacy choices. The string is computed on the server; this only serves it.
   It asks the state endpoint again after a decision taken without a reload, and at once on
   a page every visitor shares (shared-cache mode), where the signal is ready only then. */
(function () {
  "use strict";
  var N = __CONSENT_NAMES__, w = window, doc = document, me = doc.currentScript;
  var d = JSON.parse(me.getAttribute("data-gpp"));
  var listeners = {}, next = 1, ready = !d.pending;
  var queued = w.__gpp && w.__gpp.queue;

  function copy(value) { return JSON.parse(JSON.stringify(value)); }

  function ping() {
    var sids = d.applicableSections;
    return {
      gppVersion: "1.1", cmpStatus: "loaded", cmpDisplayStatus: "hidden",
      signalStatus: ready ? "ready" : "not ready",
      supportedAPIs: ["7:usnat", "8:usca", "9:usva", "10:usco", "11:usut", "12:usct"],
      cmpId: d.cmpId, sectionList: sids[0] > 0 ? sids.slice() : [],
      applicableSections: sids.slice(), gppString: d.gppString,
      parsedSections: copy(d.parsedSections)
    };
  }

  function event(name, data, id) {
    return { eventName: name, listenerId: id, data: data, pingData: ping() };
  }

  function tell(name, data) {
    for (var id in listeners) listeners[id](event(name, data, +id), true);
  }

  function api(command, callback, parameter) {
    var section, parts, id;
    if (typeof callback !== "function") return;
    switch (command) {
      case "ping": return callback(ping(), true);
      case "addEventListener":
        id = next++;
        listeners[id] = callback;
        callback(event("listenerRegistered", true, id), true);
        if (ready) callback(event("signalStatus", "ready", id), true);
        return;
      case "removeEventListener":
        id = parameter in listeners;
        delete listeners[parameter];
        return callback(id, true);
      case "hasSection":
        return callback(Object.prototype.hasOwnProperty.call(d.parsedSections, parameter), true);
      case "getSection":
        section = d.parsedSections[parameter];
        return callback(section ? copy(section) : null, true);
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

  // The server's state has this visitor's string: after a decision, or on a shared page.
  function refresh() {
    fetch(d.stateUrl + "?for=gpp", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s || !s.gpp) return;
        var changed = s.gpp.gppString !== d.gppString;
        d.gppString = s.gpp.gppString;
        d.applicableSections = s.gpp.applicableSections;
        d.parsedSections = s.gpp.parsedSections;
        if (!ready) { ready = true; tell("signalStatus", "ready"); }
        else if (changed) tell("sectionChange", d.applicableSections);
      }, function () {});
  }
  if (!ready) refresh();
  doc.addEventListener(N.event, refresh);
})();
