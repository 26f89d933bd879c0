// Copy buttons: <button data-copy-target="ID"> copies the value of the input with that id.
// The Clipboard API needs a secure context (https or localhost); elsewhere fall back to
// selecting the text and execCommand("copy"), and if that fails too, leave it selected.
(function () {
  "use strict";
  function say(button, message) {
    var status = document.getElementById(button.id + "-status");
    if (status) status.textContent = message;
    button.dataset.copied = message;
  }

  function fallback(input, button) {
    input.focus();
    input.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    say(button, ok ? "Copied." : "Selected: press Ctrl+C (or ⌘C) to copy.");
  }

  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copyTarget);
      if (!input) return;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(
          function () { say(button, "Copied."); },
          function () { fallback(input, button); }
        );
      } else {
        fallback(input, button);
      }
    });
  });
})();
