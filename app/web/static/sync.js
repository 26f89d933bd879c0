// Live progress of one sync run: poll its JSON every 500 ms, update the bar, reload when done.
(function () {
  "use strict";
  var box = document.getElementById("sync-run");
  if (!box || box.dataset.finished === "true") return;
  var url = box.dataset.progressUrl;
  var $ = function (id) { return document.getElementById(id); };
  var failures = 0;

  function text(id, value) { var el = $(id); if (el) el.textContent = value; }

  function render(run) {
    $("sync-progress").value = run.percent;
    $("sync-progress").textContent = run.percent + "%";
    text("sync-percent", run.percent + "%");
    text("sync-status", run.status_label);
    text("sync-step", run.step || "");
    $("sync-progress").classList.toggle("failed", !!run.failed);
    text("sync-current", run.current_item && !run.finished ? "· " + run.current_item : "");
    box.dataset.status = run.status;
    var notice = $("sync-notice");
    notice.hidden = !run.notice;
    notice.textContent = run.notice || "";
    var body = $("sync-counts").tBodies[0];
    body.textContent = "";
    run.counts.forEach(function (row) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.textContent = row.label;
      tr.appendChild(th);
      ["created", "updated", "unchanged", "deleted"].forEach(function (k) {
        var td = document.createElement("td");
        td.className = "num";
        td.textContent = row[k];
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (run) {
        failures = 0;
        render(run);
        if (run.finished) {
          box.dataset.finished = "true";
          window.location.reload();  // the server renders the summary
        } else {
          setTimeout(poll, 500);
        }
      })
      .catch(function () {
        failures += 1;
        text("sync-current", "· connection lost, retrying…");
        setTimeout(poll, Math.min(5000, 500 * Math.pow(2, failures)));
      });
  }
  setTimeout(poll, 300);
})();
