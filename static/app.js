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

  // A form being sent cannot be sent twice (issue 18): its submit buttons are disabled from
  // the moment its request starts until the answer comes (htmx), or while the browser
  // navigates (a plain form). The server's one-time `form_token` is the real guard; this
  // spares the double click its round trip.
  function submitButtons(form) {
    return form ? form.querySelectorAll('button:not([type="button"]):not([type="reset"]), input[type="submit"]') : [];
  }
  function setBusy(form, busy) {
    if (!form) return;
    submitButtons(form).forEach(function (b) {
      b.disabled = busy;
      if (busy) b.setAttribute("aria-busy", "true"); else b.removeAttribute("aria-busy");
    });
    if (busy) form.dataset.busy = "1"; else delete form.dataset.busy;
  }
  function formOf(elt) {
    if (!elt) return null;
    return elt.tagName === "FORM" ? elt : (elt.form || null);
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    var verb = e.detail.requestConfig && e.detail.requestConfig.verb;
    if (verb && verb.toLowerCase() === "get") return;
    setBusy(formOf(e.detail.elt), true);
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    setBusy(formOf(e.detail.elt), false);
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.method && form.method.toLowerCase() === "get") return;
    if (form.dataset.busy) { e.preventDefault(); return; }
    if (e.defaultPrevented) return; // htmx sends it: handled above
    // After this event, so the button pressed is still part of what is sent.
    setTimeout(function () { setBusy(form, true); }, 0);
  });
  // Back to a page kept by the browser: its forms are usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-busy]").forEach(function (f) { setBusy(f, false); });
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
  // Issue 10 item 9 (client list). The stylesheet hides what needs this script (the bulk
  // bar until something is ticked, the page's select-all box) only under `.js`, which
  // js-on.js sets before the first paint.

  // "/" focuses the page's search box (data-hotkey="/"), unless one is typing in a field.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var search = document.querySelector('[data-hotkey="/"]');
    if (!search) return;
    e.preventDefault();
    search.focus();
    if (search.select) search.select();
  });

  // The select-all box ticks (or unticks) the page's rows; unticking a row unticks it, and
  // unticking it takes back "all matching".
  document.addEventListener("change", function (e) {
    var t = e.target;
    var rows = document.getElementById("clients-rows");
    if (!rows || !t || !rows.contains(t)) return;
    var all = document.getElementById("select-page");
    var boxes = rows.querySelectorAll('input[name="client_ids"]');
    if (t === all) {
      boxes.forEach(function (b) { b.checked = all.checked; });
      if (!all.checked) {
        var ticked = rows.querySelector('input[name="target"][value="selected"]');
        if (ticked) ticked.checked = true;
      }
    } else if (t.name === "client_ids" && all) {
      all.checked = boxes.length > 0 && Array.prototype.every.call(boxes, function (b) { return b.checked; });
      if (!all.checked) {
        var only = rows.querySelector('input[name="target"][value="selected"]');
        if (only) only.checked = true;
      }
    }
  });
  // Time-zone picker (issue 10 item 7): a field the server left at its default takes the
  // browser's own zone, and a country <select> that follows it takes the zone's country
  // while none is chosen.
  function followZone(input) {
    var select = document.querySelector('select[data-follows-zone="' + input.id + '"]');
    if (!select || select.value || !input.list) return;
    for (var i = 0; i < input.list.options.length; i++) {
      var option = input.list.options[i];
      if (option.value === input.value) {
        var country = option.getAttribute("data-country");
        if (country && select.querySelector('option[value="' + country + '"]')) select.value = country;
        return;
      }
    }
  }
  function initZones(root) {
    root.querySelectorAll("input.zone-input").forEach(function (input) {
      if (input.__zoneReady) return;
      input.__zoneReady = true;
      if (input.hasAttribute("data-zone-from-browser")) {
        input.removeAttribute("data-zone-from-browser");
        var zone = "";
        try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (_) { /* keep UTC */ }
        // An old name the list lacks (America/Buenos_Aires) is still taken: the server
        // stores it under its current name.
        if (/^[A-Za-z0-9_+\/-]{1,64}$/.test(zone)) input.value = zone;
      }
      followZone(input);
      input.addEventListener("change", function () { followZone(input); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { initZones(document); });
  } else {
    initZones(document);
  }
  document.addEventListener("htmx:load", function (e) { if (e.target && e.target.querySelectorAll) initZones(e.target); });
  // Chat conversations (issue 13): the message list opens at its newest message, follows new
  // ones while the reader is at the bottom, keeps its place when older ones load above, and
  // asks for older ones ("chat:top" on the top sentinel's link) when scrolled to the top.
  function chatList() { return document.getElementById("messages"); }
  function chatToBottom(list) { list.scrollTop = list.scrollHeight; }
  var chatFollow = false, chatFromBottom = null;
  document.addEventListener("htmx:load", function (e) {
    var root = e.target;
    if (!root || !root.querySelector) return;
    var list = root.id === "messages" ? root : root.querySelector("#messages");
    if (list && !list.dataset.opened) {
      list.dataset.opened = "1";
      // Opened at a search's hit: that message in the middle; else the newest at the bottom.
      var hit = list.querySelector(".bubble.hit");
      if (hit) list.scrollTop = Math.max(0, hit.offsetTop - list.offsetTop - list.clientHeight / 2);
      else chatToBottom(list);
    }
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var list = chatList();
    if (!list || !list.contains(e.detail.target)) return;
    chatFollow = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    chatFromBottom = e.detail.target.id === "older-messages" ? list.scrollHeight - list.scrollTop : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    var list = chatList();
    if (!list) return;
    if (chatFromBottom !== null) { list.scrollTop = list.scrollHeight - chatFromBottom; chatFromBottom = null; }
    else if (chatFollow) { chatToBottom(list); chatFollow = false; }
  });
  document.addEventListener("scroll", function (e) {
    var list = e.target;
    if (!list || list.id !== "messages" || list.scrollTop > 40 || !window.htmx) return;
    var link = document.querySelector("#older-messages a");
    if (link && !link.dataset.asked) { link.dataset.asked = "1"; window.htmx.trigger(link, "chat:top"); }
  }, true);
  // Copy fields (issue 19): a readonly field holds the whole value, selectable without
  // script; with it, the field grows to show all of it and its Copy button appears.
  // Rows, not an inline style: htmx copies a swapped element's attributes across while it
  // settles, and a style attribute is refused by the CSP (style-src 'self').
  function fitCopyField(field) {
    field.rows = 1;
    while (field.scrollHeight > field.clientHeight + 1 && field.rows < 12) field.rows += 1;
  }
  function initCopyFields(root) {
    root.querySelectorAll("button.copy-button[data-copy]").forEach(function (button) {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field || button.__copyReady) return;
      button.__copyReady = true;
      button.hidden = false;
      fitCopyField(field);
      button.addEventListener("click", function () {
        field.focus();
        field.select();
        var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 2000); };
        var fallback = function () { if (document.execCommand && document.execCommand("copy")) done(); };
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(field.value).then(done, fallback);
        else fallback();
      });
    });
  }
  window.addEventListener("resize", function () { document.querySelectorAll("textarea.copy-link").forEach(fitCopyField); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { initCopyFields(document); });
  } else {
    initCopyFields(document);
  }
  document.addEventListener("htmx:load", function (e) { if (e.target && e.target.querySelectorAll) initCopyFields(e.target); });
  // Canned replies (issue 22 part 3): "/" at the start of a composer's text (a textarea in
  // a `.canned` box, whose `data-canned` is the picker's URL) lists the matching replies,
  // filled for the client; arrows move, Enter or Tab inserts the chosen one, Escape closes.
  var cannedAsked = 0;
  function cannedBox(textarea) {
    var host = textarea.closest && textarea.closest(".canned");
    var list = host && host.querySelector(".canned-picker");
    return list ? { host: host, list: list } : null;
  }
  function cannedOptions(list) { return Array.prototype.slice.call(list.querySelectorAll(".canned-option")); }
  function cannedClose(box, textarea) {
    box.list.hidden = true;
    box.list.innerHTML = "";
    textarea.setAttribute("aria-expanded", "false");
    textarea.removeAttribute("aria-activedescendant");
  }
  function cannedSelect(textarea, list, option) {
    cannedOptions(list).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) {
      textarea.setAttribute("aria-activedescendant", option.id);
      if (option.scrollIntoView) option.scrollIntoView({ block: "nearest" });
    }
  }
  function cannedInsert(textarea, option) {
    textarea.value = option.getAttribute("data-text");
    cannedClose(cannedBox(textarea), textarea);
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }
  document.addEventListener("input", function (e) {
    var textarea = e.target;
    if (!textarea || textarea.tagName !== "TEXTAREA") return;
    var box = cannedBox(textarea);
    if (!box) return;
    var typed = /^\/(\S{0,30})$/.exec(textarea.value);
    if (!typed) {
      if (!box.list.hidden) cannedClose(box, textarea);
      return;
    }
    var asked = ++cannedAsked;
    fetch(box.host.getAttribute("data-canned") + "?q=" + encodeURIComponent(typed[1]), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        // A newer keystroke asked again, or the text no longer starts with "/".
        if (asked !== cannedAsked || !/^\/\S*$/.test(textarea.value)) return;
        box.list.innerHTML = html;
        box.list.id = box.list.id || textarea.id + "-canned";
        box.list.hidden = false;
        textarea.setAttribute("aria-controls", box.list.id);
        textarea.setAttribute("aria-expanded", "true");
        cannedSelect(textarea, box.list, box.list.querySelector(".canned-option"));
      });
  });
  document.addEventListener("keydown", function (e) {
    var textarea = e.target;
    if (!textarea || textarea.tagName !== "TEXTAREA") return;
    var box = cannedBox(textarea);
    if (!box || box.list.hidden) return;
    var options = cannedOptions(box.list);
    var current = box.list.querySelector('.canned-option[aria-selected="true"]');
    var at = options.indexOf(current);
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && options.length) {
      e.preventDefault();
      var next = e.key === "ArrowDown" ? (at + 1) % options.length : (at - 1 + options.length) % options.length;
      cannedSelect(textarea, box.list, options[next]);
    } else if ((e.key === "Enter" || e.key === "Tab") && current && !e.shiftKey) {
      e.preventDefault();
      cannedInsert(textarea, current);
    } else if (e.key === "Escape") {
      e.preventDefault();
      cannedClose(box, textarea);
    }
  });
  document.addEventListener("click", function (e) {
    var option = e.target.closest && e.target.closest(".canned-option");
    var textarea = option && option.closest(".canned").querySelector("textarea");
    if (textarea) cannedInsert(textarea, option);
  });
  // The chat composer (issue 22 part 8): Enter sends and Shift+Enter adds a line, or, for
  // those who chose so on /account (`data-enter-sends="false"`), Enter adds a line; Ctrl+Enter
  // sends either way. An open canned-reply picker takes Enter first (above).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.defaultPrevented || e.isComposing || e.shiftKey || e.altKey) return;
    var t = e.target;
    var form = t && t.tagName === "TEXTAREA" && t.closest("form[data-enter-sends]");
    if (!form) return;
    if (!(e.ctrlKey || e.metaKey) && form.getAttribute("data-enter-sends") !== "true") return;
    e.preventDefault();
    if (!t.value.trim()) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  // The chat's shortcuts (issue 22 part 8) on pages marked `data-chat-keys`, never while
  // typing: j / k the next / previous chat (the inbox's rows, or from a conversation the
  // chats below and above it), e close, a assign to me, ? the list (`#chat-keys`).
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (!document.querySelector("[data-chat-keys]") || document.querySelector("dialog[open]")) return;
    function press(el) {
      if (!el) return;
      e.preventDefault();
      el.click();
    }
    if (e.key === "?") {
      press(document.querySelector('[data-open-dialog="chat-keys"]'));
    } else if (e.key === "j" || e.key === "k") {
      var rows = Array.prototype.slice.call(document.querySelectorAll("#chat-list .chat-client"));
      if (!rows.length) return press(document.querySelector('a[data-key="' + e.key + '"]'));
      var at = rows.indexOf(document.activeElement);
      var next = at < 0 ? 0 : e.key === "j" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0);
      e.preventDefault();
      rows[next].focus();
    } else if (e.key === "e") {
      press(document.querySelector('#chat-actions form[action$="/close"] button'));
    } else if (e.key === "a") {
      press(document.querySelector("#chat-actions .chat-assign-me button"));
    }
  });
  // Buttons that open a dialog need this script: shown only with it.
  function initDialogButtons(root) {
    root.querySelectorAll("[data-open-dialog]").forEach(function (b) { b.hidden = false; });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { initDialogButtons(document); });
  } else {
    initDialogButtons(document);
  }
  document.addEventListener("htmx:load", function (e) { if (e.target && e.target.querySelectorAll) initDialogButtons(e.target); });
  document.addEventListener("click", function (e) {
    var opener = e.target.closest && e.target.closest("[data-open-dialog]");
    var dialog = opener && document.getElementById(opener.getAttribute("data-open-dialog"));
    if (dialog && dialog.showModal && !dialog.open) dialog.showModal();
  });
})();
