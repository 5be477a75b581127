// A job's page (templates/admin/profiles/bulkjob/job.html) follows the job: every second it reads the job's
// status (JSON) and updates the bar and the counts; once the job has finished it reloads, for the final lists.
(function () {
  "use strict";
  function show(data) {
    const bar = document.getElementById("job-bar");
    bar.max = data.total || 1;
    bar.value = data.total ? data.done : 1;
    document.getElementById("job-done").textContent = data.done;
    document.getElementById("job-state").textContent = data.state;
    document.getElementById("job-rate").textContent = data.rate;
    document.getElementById("job-left").textContent = data.seconds_left === null ? "—" : data.seconds_left + " s";
    for (const [state, n] of Object.entries(data.by_state)) {
      const cell = document.querySelector('[data-state="' + state + '"]');
      if (cell) { cell.textContent = n; }
    }
    return data.finished;
  }
  function poll(url) {
    fetch(url, {credentials: "same-origin"}).then(r => r.json()).then(data => {
      if (show(data)) { window.location.reload(); } else { setTimeout(() => poll(url), 1000); }
    }).catch(() => setTimeout(() => poll(url), 3000));
  }
  document.addEventListener("DOMContentLoaded", function () {
    const page = document.querySelector("[data-status-url]");
    if (page && page.dataset.finished !== "true") {
      setTimeout(() => poll(page.dataset.statusUrl), 1000);
    }
  });
})();
