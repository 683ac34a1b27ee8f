/* consent: the banner's browser side. No framework, no globals except window.consent.
   It trusts only the state the server verified: written into the banner, or in shared-cache
   mode answered by the state endpoint. The cookie itself is never read here. */
(function () {
  "use strict";
  var N = __CONSENT_NAMES__, F = N.fields, A = N.actions;
  var doc = document, me = doc.currentScript;
  // The banner is the element around this script: markup in the page cannot stand in for it.
  var root = me && me.parentNode;
  if (!root || !root.hasAttribute || !root.hasAttribute(N.banner)) return;
  var cfg = JSON.parse(root.getAttribute(N.config));
  var layers = root.querySelectorAll(sel(N.layer));
  var status = root.querySelector(".cst-status");
  var state = cfg.state || { decided: false, granted: [], consentId: null };
  // URLs that would run script in the page: never restored, whoever wrote them.
  var UNSAFE = /^(javascript:|vbscript:|data:text\/html)/i;

  function sel(name) { return "[" + name + "]"; }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function safe(url) { return !UNSAFE.test(url.replace(/[\x00-\x20]/g, "")); }
  function granted(category) { return state.granted.indexOf(category) >= 0; }

  function show(layer) {
    root.hidden = false;
    layers[0].hidden = layer !== 1;
    layers[1].hidden = layer !== 2;
    syncBoxes();
    // The first control a visitor can use, never a hidden field.
    var first = layers[layer - 1].querySelector("input[type=checkbox]:not([disabled]), button");
    if (first) first.focus();
    pad();
  }

  function hide() { root.hidden = true; pad(); }

  // Keeps the focused element from hiding behind the fixed banner (WCAG 2.4.11) and leaves
  // room to scroll the end of the page above it: an empty box placed below everything the page
  // shows, not padding on <html>, which pages with a 100%-high body and content overflowing
  // it (Django's admin) do not scroll into.
  var spacer;
  function pad() {
    var h = root.hidden ? 0 : root.offsetHeight, de = doc.documentElement;
    de.style.scrollPaddingBottom = h ? h + "px" : "";
    if (!spacer) {
      spacer = doc.createElement("div");
      spacer.setAttribute("aria-hidden", "true");
      spacer.style.cssText = "position:absolute;left:0;width:1px;visibility:hidden;pointer-events:none";
      doc.body.appendChild(spacer);
    }
    spacer.style.height = "0";
    spacer.style.top = de.scrollHeight + "px";
    spacer.style.height = h + "px";
  }

  function syncBoxes() {
    each(root.querySelectorAll("input[name=" + F.category + "]"), function (box) {
      if (!box.disabled) box.checked = state.decided && granted(box.value);
    });
  }

  function decide(action, categories, extra) {
    var form = layers[0], body = new URLSearchParams();
    body.append(F.action, action);
    body.append(F.csrf, form.elements[F.csrf].value);
    body.append(F.next, location.pathname + location.search);
    body.append(F.source, "script");
    body.append(F.locale, root.lang);
    (categories || []).forEach(function (c) { body.append(F.category, c); });
    (extra || []).forEach(function (b) { body.append(b.name, b.value); });
    status.textContent = "";
    return fetch(form.getAttribute("action"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || r.statusText);
        state = { decided: true, granted: data.granted, consentId: data.consent_id };
        hide();
        apply(true);
      });
    }).catch(function (e) { status.textContent = String(e.message || e); });
  }

  function gtag() { (window.dataLayer = window.dataLayer || []).push(arguments); }

  function googleUpdate() {
    if (!cfg.gcm) return;
    var upd = {};
    for (var k in cfg.gcm) upd[k] = granted(cfg.gcm[k]) ? "granted" : "denied";
    gtag("consent", "update", upd);
  }

  // Restores held-back elements of granted categories in document order; an external
  // script is awaited before the next one runs, as the parser would have done. Only what
  // the server moved aside for this response carries its marker; a site's own
  // `type="text/plain"` script is what the server leaves alone once its category is granted.
  function release() {
    var queue = Promise.resolve();
    each(doc.querySelectorAll(sel(N.category)), function (el) {
      var mark = el.getAttribute(N.held), script = el.tagName === "SCRIPT";
      if (!granted(el.getAttribute(N.category)) || root.contains(el)) return;
      if (mark === null ? !script || el.getAttribute("type") !== N.plain : mark !== cfg.held) return;
      if (script) queue = queue.then(function () { return run(el); });
      else restore(el);
    });
    each(doc.querySelectorAll(sel(N.placeholder)), function (p) {
      if (granted(p.getAttribute(N.placeholder))) p.remove();
    });
    return queue;
  }

  function restore(el) {
    N.attributes.forEach(function (n) {
      var v = el.getAttribute(N.prefix + n);
      if (v === null) return;
      el.removeAttribute(N.prefix + n);
      if (n !== "srcdoc" && !safe(v)) return;
      if (n.indexOf("xlink:") === 0) el.setAttributeNS("http://www.w3.org/1999/xlink", n, v);
      else el.setAttribute(n, v);
    });
    el.removeAttribute(N.held);
  }

  function run(old) {
    return new Promise(function (done) {
      var s = doc.createElement("script");
      var skip = ["type", "src", N.held, N.prefix + "src", N.prefix + "type"];
      each(old.attributes, function (a) {
        if (skip.indexOf(a.name) < 0) s.setAttribute(a.name, a.value);
      });
      var type = old.getAttribute(N.prefix + "type") || "";
      if (type !== N.plain && type) s.setAttribute("type", type);
      var src = old.getAttribute(N.prefix + "src") || old.getAttribute("src");
      if (old.nonce) s.nonce = old.nonce;
      if (src && safe(src) && !s.noModule) {
        s.async = false;
        s.onload = s.onerror = done;
        s.src = src;
      } else {
        if (!src) s.text = old.text;
        done();
      }
      old.parentNode.replaceChild(s, old);
    });
  }

  function apply(changed) {
    googleUpdate();
    release();
    if (changed) doc.dispatchEvent(new CustomEvent(N.event, { detail: window.consent.state }));
  }

  root.addEventListener("click", function (ev) {
    var btn = ev.target.closest(sel(N.action)), cats = [], extra = [];
    if (!btn) return;
    var action = btn.getAttribute(N.action);
    ev.preventDefault();
    if (action === A.customize) return show(2);
    if (action === A.custom) {
      each(btn.form.querySelectorAll("input[name=" + F.category + "]:checked:not([disabled])"), function (b) { cats.push(b.value); });
      each(btn.form.querySelectorAll(sel(N.extra) + " input"), function (b) { if (b.type === "hidden" || b.checked) extra.push(b); });
    }
    decide(action, cats, extra);
  });

  doc.addEventListener("click", function (ev) {
    var opener = ev.target.closest(sel(N.open)), allow = ev.target.closest(sel(N.allow));
    var p = allow && allow.closest(sel(N.placeholder)), next = p && p.nextElementSibling;
    if (opener) { ev.preventDefault(); show(2); }
    // Only a placeholder the server put before what it held back grants anything.
    if (next && next.getAttribute(N.held) === cfg.held) {
      decide(A.custom, state.granted.concat([p.getAttribute(N.placeholder)]));
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
    if (ev.key === "Escape" && !root.hidden && !ev.defaultPrevented) { ev.preventDefault(); decide(A.close); }
  });

  window.consent = {
    get state() { return { decided: state.decided, granted: state.granted.slice(), consentId: state.consentId }; },
    open: function () { show(2); },
    decide: decide
  };

  // Pages that build their layout once loaded (widgets, late images) move the page's end.
  window.addEventListener("load", function () { pad(); });
  window.addEventListener("resize", function () { pad(); });

  function start() {
    if (state.decided) { root.hidden = true; apply(false); } else { root.hidden = false; pad(); }
  }

  if (cfg.state) start();
  else {
    // Shared-cache mode: the page is the same for everyone, so nothing is released and the
    // banner stays hidden until the server has answered for this visitor.
    fetch(cfg.stateUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) state = { decided: s.decided, granted: s.granted, consentId: s.consent_id }; }, function () {})
      .then(start);
  }
})();
