/* consent: __tcfapi, over the euconsent-v2 string the server set, while it verifies a decision. */
(function () {
  "use strict";
  var N = __CONSENT_NAMES__;
  var w = window, doc = document, stub = w.__tcfapi;
  if (!stub || !stub.queue) return;
  var meta = stub.meta, queue = stub.queue, listeners = Object.create(null);
  var status = null, tc = null, verified = null;
  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  function call(fn, a, b) {
    try { fn(a, b); } catch (e) { setTimeout(function () { throw e; }); }
  }

  function decode(text) {
    var bits = "", at = 0, left = 262140, core = text.split(".")[0], i, n;
    for (i = 0; i < core.length; i++) {
      n = B64.indexOf(core.charAt(i));
      if (n < 0) return null;
      bits += ("00000" + n.toString(2)).slice(-6);
    }
    function int(width) {
      var v = 0;
      for (var k = 0; k < width; k++) v = v * 2 + (bits.charAt(at++) === "1" ? 1 : 0);
      if (at > bits.length) throw 0;
      return v;
    }
    function field(width) {
      var out = {};
      for (var k = 1; k <= width; k++) out[k] = int(1) === 1;
      return out;
    }
    function letters() { return String.fromCharCode(65 + int(6), 65 + int(6)); }
    function ranges(out, value) {
      for (var e = int(12); e > 0; e--) {
        var range = int(1), start = int(16), end = range ? int(16) : start;
        if ((left -= end - start + 1) < 0) throw 0;
        for (var v = start; v <= end; v++) out[v] = value;
      }
    }
    function vendors() {
      var max = int(16), out = {};
      if (int(1)) { ranges(out, true); for (var v = 1; v <= max; v++) out[v] = !!out[v]; } else out = field(max);
      return out;
    }
    try {
      var r = { version: int(6) };
      if (r.version !== 2) return null;
      int(36); int(36);
      r.cmpId = int(12); r.cmpVersion = int(12); int(6); letters(); int(12);
      r.tcfPolicyVersion = int(6); r.isServiceSpecific = int(1) === 1;
      r.useNonStandardTexts = int(1) === 1; r.specialFeatureOptins = field(12);
      r.purposeConsents = field(24); r.purposeLI = field(24);
      r.purposeOneTreatment = int(1) === 1; r.publisherCC = letters();
      r.vendorConsents = vendors(); r.vendorLI = vendors(); r.restrictions = {};
      for (var p = int(12); p > 0; p--) {
        var purpose = int(6), type = int(2), found = {};
        ranges(found, type);
        r.restrictions[purpose] = r.restrictions[purpose] || {};
        for (var id in found) r.restrictions[purpose][id] = type;
      }
      return r;
    } catch (e) { return null; }
  }

  function root() { return doc.querySelector("[" + N.banner + "]"); }

  function decided() { return !!(verified && verified.decided); }

  function ac() {
    if (!meta.atp.length || !verified) return undefined;
    var yes = verified.granted.indexOf(meta.atpCategory) >= 0, ids = meta.atp.join(".");
    return "2~" + (yes ? ids : "") + "~dv." + ids;
  }

  function only(map, ids) {
    if (!Array.isArray(ids) || !ids.length) return map;
    var out = {};
    ids.forEach(function (id) { out[id] = map[id] === true; });
    return out;
  }

  function data(listenerId, vendorIds) {
    var d = tc || {};
    return {
      tcString: tc ? tc.text : "", tcfPolicyVersion: meta.policyVersion, cmpId: meta.cmpId,
      cmpVersion: meta.cmpVersion, gdprApplies: meta.gdprApplies, eventStatus: status, cmpStatus: "loaded",
      listenerId: listenerId, isServiceSpecific: true, useNonStandardTexts: false,
      publisherCC: meta.publisherCC, purposeOneTreatment: meta.purposeOneTreatment,
      purpose: { consents: d.purposeConsents || {}, legitimateInterests: d.purposeLI || {} },
      vendor: {
        consents: only(d.vendorConsents || {}, vendorIds),
        legitimateInterests: only(d.vendorLI || {}, vendorIds)
      },
      specialFeatureOptins: d.specialFeatureOptins || {},
      publisher: {
        consents: {}, legitimateInterests: {},
        customPurpose: { consents: {}, legitimateInterests: {} },
        restrictions: d.restrictions || {}
      },
      addtlConsent: ac()
    };
  }

  function api(command, version, fn, parameter) {
    if (typeof fn !== "function") return;
    var callback = call.bind(null, fn);
    if (version && version !== 2) return callback(null, false);
    var banner = root();
    if (command === "ping") {
      callback({
        gdprApplies: meta.gdprApplies, cmpLoaded: true, cmpStatus: "loaded",
        displayStatus: banner && !banner.hidden ? "visible" : "hidden", apiVersion: "2.3",
        cmpVersion: meta.cmpVersion, cmpId: meta.cmpId, gvlVersion: meta.gvlVersion,
        tcfPolicyVersion: meta.policyVersion
      }, true);
    } else if (command === "getTCData") {
      callback(data(undefined, parameter), true);
    } else if (command === "addEventListener") {
      var id = 1 + Math.random() * 2e9 | 0;
      listeners[id] = fn;
      callback(data(id), true);
    } else if (command === "removeEventListener") {
      var known = parameter in listeners;
      delete listeners[parameter];
      callback(known, known);
    } else callback(null, false);
  }

  function read() {
    // Other CMPs write euconsent-v2 too.
    var found = doc.cookie.split(/; */).filter(function (c) { return !c.indexOf("euconsent-v2="); });
    if (verified && !verified.decided && found.length) {
      // A decision the server no longer counts: its string goes.
      doc.cookie = "euconsent-v2=; Path=/; Max-Age=0" + (meta.cookieDomain ? "; Domain=" + meta.cookieDomain : "");
    }
    tc = null;
    if (decided() && meta.gdprApplies) found.some(function (c) {
      var d = decode(c = c.slice(13));
      return d && d.cmpId === meta.cmpId && (tc = d, d.text = c);
    });
  }

  // Reopened, the boxes show the stored choice.
  function sync() {
    var banner = root();
    if (!banner || !tc) return;
    var boxes = {
      tcf_purpose: tc.purposeConsents, tcf_special_feature: tc.specialFeatureOptins,
      tcf_vendor: tc.vendorConsents
    };
    each(banner.querySelectorAll(".cst-tcf input[type=checkbox]"), function (box) {
      var map = boxes[box.name];
      if (map) box.checked = !!map[box.value];
      else if (box.name === "tcf_purpose_objection") box.checked = !tc.purposeLI[box.value];
      else if (box.name === "tcf_vendor_objection") box.checked = !tc.vendorLI[box.value];
    });
  }

  // Consent Mode: storage 1, user data 1 and 7, personalisation 3 and 4.
  function google() {
    if (!meta.gcm || !tc) return;
    var p = tc.purposeConsents, on = function (x) { return x ? "granted" : "denied"; };
    (function () { (w.dataLayer = w.dataLayer || []).push(arguments); })("consent", "update", {
      ad_storage: on(p[1]), ad_user_data: on(p[1] && p[7]), ad_personalization: on(p[3] && p[4])
    });
  }

  // A category ticks its purposes and their vendors, as the server maps it.
  var touched = false;
  function link() {
    var banner = root();
    if (!banner) return;
    banner.addEventListener("change", function (ev) {
      if (ev.target.name !== N.fields.category) return;
      touched = true;
      follow(banner, true);
    });
  }

  function follow(banner, purposesToo) {
    var on = {}, F = N.fields;
    each(banner.querySelectorAll("input[name=" + F.category + "]:checked"), function (b) {
      (meta.categoryPurposes[b.value] || []).forEach(function (p) { on[p] = true; });
    });
    if (purposesToo) {
      each(banner.querySelectorAll(".cst-tcf input[name=tcf_purpose]"), function (b) { b.checked = !!on[b.value]; });
    }
    each(banner.querySelectorAll(".cst-tcf input[name=tcf_vendor]"), function (b) {
      b.checked = (b.getAttribute("data-purposes") || "").split(" ").some(function (p) { return on[p]; });
    });
  }

  // The vendor list, from the preferences page, once the second layer opens.
  function vendors(banner) {
    var slot = banner.querySelector(".cst-tcf-slot"), link = slot && slot.querySelector("a");
    if (!link || slot.loading) return;
    slot.loading = true;
    fetch(link.href).then(function (r) {
      if (!r.ok) throw 0;
      return r.text();
    }).then(function (html) {
      var list = new DOMParser().parseFromString(html, "text/html").getElementById("cst-tcf-vendors");
      if (!list) throw 0;
      slot.parentNode.replaceChild(doc.importNode(list, true), slot);
      if (touched) follow(banner, false);
      else sync();
    }).catch(function () { slot.loading = false; });
  }

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function fire() {
    for (var id in listeners) call(listeners[id], data(+id), true);
  }

  function start() {
    read();
    // Where GDPR does not apply there is nothing to ask: loaded, with no string.
    status = tc || !meta.gdprApplies ? "tcloaded" : "cmpuishown";
    sync();
    link();
    google();
    w.__tcfapi = api;
    queue.splice(0).forEach(function (call) { api.apply(null, call); });
    var banner = root();
    if (banner) {
      new MutationObserver(function () {
        if (!banner.hidden && status !== "cmpuishown") { status = "cmpuishown"; fire(); }
        var second = banner.querySelector("[" + N.layer + "='2']");
        if (!banner.hidden && second && !second.hidden) vendors(banner);
      }).observe(banner, { attributes: true, attributeFilter: ["hidden"], subtree: true });
    }
    doc.addEventListener(N.event, function (ev) {
      verified = ev.detail;
      read();
      status = "useractioncomplete";
      sync();
      google();
      fire();
    });
  }

  // The verified state: the banner's, else (shared-cache mode) the state endpoint's. The
  // banner's deferred script runs after this one.
  function begin() {
    var b = root(), cfg = b ? JSON.parse(b.getAttribute(N.config)) : {};
    if (cfg.state !== null) { verified = w.consent && w.consent.state; return start(); }
    fetch(cfg.stateUrl, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); }).then(function (s) { verified = s; }, function () {}).then(start);
  }

  if (w.consent) begin();
  else doc.addEventListener("DOMContentLoaded", begin);
})();
