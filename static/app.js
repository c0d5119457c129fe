// Switchboard's only script of its own: small behaviours, no inline JS anywhere.
(function () {
  "use strict";

  // Content-Security-Policy violations are collected so that the browser tests can assert
  // there are none, and logged for whoever has the console open.
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    var text = e.violatedDirective + " " + (e.blockedURI || "inline");
    window.__cspViolations.push(text);
    if (window.console) console.warn("CSP violation:", text);
  });

  // htmx requests carry the CSRF token even where no hx-headers ancestor sets it.
  document.addEventListener("htmx:configRequest", function (e) {
    if (!e.detail.headers["X-CSRF-Token"]) {
      var meta = document.querySelector('meta[name="csrf-token"]');
      if (meta) e.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });

  // Upload progress: a form's <progress class="upload-progress"> follows htmx's XHR upload.
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = e.target && e.target.closest ? e.target.closest("form") : null;
    var bar = form ? form.querySelector("progress.upload-progress") : null;
    if (!bar || !e.detail.lengthComputable) return;
    bar.hidden = false;
    bar.max = e.detail.total;
    bar.value = e.detail.loaded;
  });

  // A failed htmx request shows the error page's message in the flash region.
  document.addEventListener("htmx:responseError", function (e) {
    var region = document.getElementById("flash");
    if (!region) return;
    var message = "The request failed (" + e.detail.xhr.status + ").";
    try {
      var doc = new DOMParser().parseFromString(e.detail.xhr.responseText, "text/html");
      var found = doc.getElementById("error-message");
      if (found && found.textContent) message = found.textContent;
    } catch (_) { /* keep the generic message */ }
    var p = document.createElement("p");
    p.className = "flash error";
    p.textContent = message;
    region.replaceChildren(p);
  });

  // A table that scrolls sideways (phone widths) can be scrolled from the keyboard: it takes
  // focus when it overflows and has nothing focusable inside (WCAG 2.1.1, axe's
  // scrollable-region-focusable).
  function focusableScrollers() {
    document.querySelectorAll("main table, main .table-scroll").forEach(function (t) {
      var overflows = t.scrollWidth > t.clientWidth + 1;
      if (overflows && !t.hasAttribute("tabindex") && !t.querySelector("a[href], button, input, select, textarea")) {
        t.setAttribute("tabindex", "0");
        t.dataset.scrollFocus = "1";
      } else if (!overflows && t.dataset.scrollFocus) {
        t.removeAttribute("tabindex");
        delete t.dataset.scrollFocus;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", focusableScrollers);
  document.addEventListener("htmx:afterSettle", focusableScrollers);
  window.addEventListener("resize", focusableScrollers);
})();
