/* consent: the banner's browser side. No framework, no globals except window.consent. */
(function () {
  "use strict";
  var doc = document;
  var root = doc.querySelector("[data-consent-banner]");
  if (!root) return;
  var cfg = JSON.parse(root.getAttribute("data-consent-config") || "{}");
  var layers = root.querySelectorAll("[data-consent-layer]");
  var status = root.querySelector(".cst-status");
  var state = readCookie();
  var JS_TYPES = /^(|text\/javascript|application\/javascript|module|text\/ecmascript)$/i;
  // Attributes the server moved to data-consent-<name> so that nothing is fetched.
  var HELD = ["src", "srcset", "srcdoc", "poster", "href", "background", "imagesrcset", "data"];

  function readCookie() {
    var parts = doc.cookie.split(/;\s*/);
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) !== cfg.cookie) continue;
      try {
        var p = JSON.parse(atob(parts[i].slice(eq + 1).split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
        if (p.v === cfg.version) return { decided: true, granted: p.g, id: p.i };
      } catch (e) { /* unreadable: undecided */ }
    }
    return { decided: false, granted: cfg.required, id: null };
  }

  function effective(granted) {
    return granted.filter(function (c) { return !(cfg.gpc && c === cfg.gpcRefuses); });
  }

  function show(layer) {
    root.hidden = false;
    layers[0].hidden = layer !== 1;
    layers[1].hidden = layer !== 2;
    syncBoxes();
    var first = layers[layer - 1].querySelector("input:not([disabled]), button");
    if (first) first.focus();
    pad();
  }

  function hide() { root.hidden = true; pad(); }

  // Keeps the focused element from hiding behind the fixed banner (WCAG 2.4.11).
  // and leaves room to scroll the end of the page above it.
  function pad() {
    var h = root.hidden ? "" : root.offsetHeight + "px", st = doc.documentElement.style;
    st.scrollPaddingBottom = h;
    st.paddingBottom = h;
  }

  function syncBoxes() {
    var boxes = root.querySelectorAll("input[name=category]");
    for (var i = 0; i < boxes.length; i++) {
      if (!boxes[i].disabled) boxes[i].checked = state.decided && state.granted.indexOf(boxes[i].value) >= 0;
    }
  }

  function decide(action, categories) {
    var form = layers[0];
    var body = new URLSearchParams();
    body.append("action", action);
    body.append("csrf_token", form.elements.csrf_token.value);
    body.append("next", location.pathname + location.search);
    body.append("source", "script");
    body.append("locale", root.lang);
    (categories || []).forEach(function (c) { body.append("category", c); });
    status.textContent = "";
    return fetch(form.getAttribute("action"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || r.statusText);
        state = { decided: true, granted: data.granted, id: data.consent_id };
        hide();
        apply(true);
      });
    }).catch(function (e) { status.textContent = String(e.message || e); });
  }

  function gtag() { (window.dataLayer = window.dataLayer || []).push(arguments); }

  function googleUpdate() {
    if (!cfg.gcm) return;
    var g = effective(state.granted), upd = {};
    for (var k in cfg.gcm) upd[k] = g.indexOf(cfg.gcm[k]) >= 0 ? "granted" : "denied";
    gtag("consent", "update", upd);
  }

  // Restores held-back elements of granted categories in document order; an external
  // script is awaited before the next one runs, as the parser would have done.
  function release() {
    var g = effective(state.granted), queue = Promise.resolve();
    var held = doc.querySelectorAll("[data-consent-category]");
    Array.prototype.forEach.call(held, function (el) {
      var cat = el.getAttribute("data-consent-category");
      if (g.indexOf(cat) < 0 || root.contains(el)) return;
      if (el.tagName === "SCRIPT") {
        if (JS_TYPES.test(el.type) && !el.hasAttribute("data-consent-held")) return;
        queue = queue.then(function () { return runScript(el); });
      } else if (el.hasAttribute("data-consent-held")) {
        HELD.forEach(function (n) {
          var v = el.getAttribute("data-consent-" + n);
          if (v !== null) { el.setAttribute(n, v); el.removeAttribute("data-consent-" + n); }
        });
        el.removeAttribute("data-consent-held");
      }
    });
    Array.prototype.forEach.call(doc.querySelectorAll("[data-consent-placeholder]"), function (p) {
      if (g.indexOf(p.getAttribute("data-consent-placeholder")) >= 0) p.remove();
    });
    return queue;
  }

  function runScript(old) {
    return new Promise(function (done) {
      var s = doc.createElement("script");
      for (var i = 0; i < old.attributes.length; i++) {
        var n = old.attributes[i].name;
        if (!/^(type|src|data-consent-(held|src|type))$/.test(n)) s.setAttribute(n, old.attributes[i].value);
      }
      var type = old.getAttribute("data-consent-type") || "";
      if (type === "text/plain") type = "";
      if (type) s.setAttribute("type", type);
      var src = old.getAttribute("data-consent-src") || old.getAttribute("src");
      if (old.nonce) s.nonce = old.nonce;
      if (src) {
        s.async = false;
        s.onload = s.onerror = done;
        s.src = src;
      } else {
        s.text = old.text;
        done();
      }
      old.parentNode.replaceChild(s, old);
    });
  }

  function apply(changed) {
    googleUpdate();
    release();
    if (changed) {
      var detail = { decided: state.decided, granted: effective(state.granted).slice(), consentId: state.id };
      doc.dispatchEvent(new CustomEvent("consent:change", { detail: detail }));
    }
  }

  root.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-consent-action]");
    if (!btn) return;
    var action = btn.getAttribute("data-consent-action");
    ev.preventDefault();
    if (action === "customize") return show(2);
    var cats = [];
    if (action === "custom") {
      Array.prototype.forEach.call(btn.form.querySelectorAll("input[name=category]:checked:not([disabled])"), function (b) { cats.push(b.value); });
    }
    decide(action, cats);
  });

  doc.addEventListener("click", function (ev) {
    var opener = ev.target.closest("[data-consent-open]");
    var allow = ev.target.closest("[data-consent-allow]");
    if (opener) { ev.preventDefault(); show(2); }
    if (allow) {
      var cats = effective(state.granted).concat([allow.getAttribute("data-consent-allow")]);
      decide("custom", cats);
    }
  });

  // A fixed banner must never hide the element that has focus (WCAG 2.4.11).
  doc.addEventListener("focusin", function (ev) {
    if (root.hidden || root.contains(ev.target)) return;
    var over = ev.target.getBoundingClientRect().bottom - root.getBoundingClientRect().top;
    if (over > 0) window.scrollBy(0, over + 8);
  });

  // Closing is refusing (Escape or the close control), never silent acceptance.
  doc.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && !root.hidden && !ev.defaultPrevented) { ev.preventDefault(); decide("close"); }
  });

  window.consent = {
    get state() { return { decided: state.decided, granted: effective(state.granted).slice(), consentId: state.id }; },
    open: function () { show(2); },
    decide: decide
  };
  if (cfg.shared && !state.decided) show(1);
  if (state.decided) { root.hidden = true; apply(false); } else pad();
})();
