// Keyboard shortcuts for the review UI. Everything also works without this file:
// every action is a plain form or link.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
  }
  function go(id) { var link = document.getElementById(id); if (link) { window.location.href = link.href; } }
  function submit(id) { var form = document.getElementById(id); if (form) { form.requestSubmit(); } }
  function focus(el) { if (el) { el.focus(); el.scrollIntoView({ block: "center" }); } }

  var rows = Array.prototype.slice.call(document.querySelectorAll("table.variants tbody tr[data-href]"));
  var current = -1;
  function select(i) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (row, n) { row.classList.toggle("selected", n === current); });
    rows[current].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var page = document.body.classList;
    if (page.contains("queue")) {
      if (event.key === "j") { select(current + 1); }
      else if (event.key === "k") { select(current - 1); }
      else if (event.key === "Enter" && current >= 0) { window.location.href = rows[current].dataset.href; }
      else if (event.key === "x" && current >= 0) {
        var box = rows[current].querySelector("input[type=checkbox]");
        if (box && !box.disabled) { box.checked = !box.checked; }
      } else { return; }
      event.preventDefault();
    } else if (page.contains("variant")) {
      if (event.key === "j") { go("next"); }
      else if (event.key === "k") { go("prev"); }
      else if (event.key === "a") { submit("approve-form"); }
      else if (event.key === "r") { focus(document.getElementById("reject-reason")); }
      else if (event.key === "e") { focus(document.querySelector("#edit-form .edit-slot")); }
      else { return; }
      event.preventDefault();
    }
  });

  // The preview page reloads itself when the workspace on disk or the release changes.
  var preview = document.querySelector(".preview-grid[data-version]");
  if (preview) {
    window.setInterval(function () {
      fetch("/ui/preview/version", { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (version) { if (version && version !== preview.dataset.version) { window.location.reload(); } })
        .catch(function () {});
    }, 1500);
  }
})();
