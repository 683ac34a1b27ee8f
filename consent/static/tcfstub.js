/* consent: the __tcfapi stub. Answers ping, queues the rest; the locator frame for frames. */
(function () {
  "use strict";
  var w = window, doc = document, me = doc.currentScript;
  if (typeof w.__tcfapi === "function") return;
  var meta = JSON.parse(me.getAttribute("data-tcf")), queue = [];

  function stub(command, version, callback, parameter) {
    if (typeof callback !== "function") return;
    if (command === "ping") {
      callback({
        gdprApplies: meta.gdprApplies, cmpLoaded: false, cmpStatus: "stub", displayStatus: "hidden",
        apiVersion: "2.3", cmpVersion: meta.cmpVersion, cmpId: meta.cmpId,
        gvlVersion: meta.gvlVersion, tcfPolicyVersion: meta.policyVersion
      }, true);
    } else queue.push([command, version, callback, parameter]);
  }
  stub.queue = queue;
  stub.meta = meta;
  w.__tcfapi = stub;

  function locator() {
    if (w.frames.__tcfapiLocator) return;
    if (!doc.body) return setTimeout(locator, 5);
    var f = doc.createElement("iframe");
    f.name = "__tcfapiLocator";
    f.title = "";
    f.setAttribute("aria-hidden", "true");
    f.tabIndex = -1;
    f.style.display = "none";
    doc.body.appendChild(f);
  }
  locator();

  w.addEventListener("message", function (ev) {
    var text = typeof ev.data === "string", data = ev.data, call;
    if (text) { try { data = JSON.parse(data); } catch (e) { return; } }
    call = data && data.__tcfapiCall;
    if (!call || typeof call !== "object" || !ev.source) return;
    w.__tcfapi(call.command, call.version, function (value, success) {
      var answer = { __tcfapiReturn: { returnValue: value, success: success, callId: call.callId } };
      ev.source.postMessage(text ? JSON.stringify(answer) : answer, "*");
    }, call.parameter);
  });
})();
