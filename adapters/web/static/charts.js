// Draws the insights charts from the JSON the page embeds (no inline script: strict CSP).
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#1f4e79", "#2e7d32", "#b26a00", "#6a1b9a", "#00838f", "#c62828",
                 "#5d4037", "#455a64", "#9e9d24", "#ad1457"];
  var common = { responsive: true, maintainAspectRatio: false, animation: false,
                 plugins: { legend: { position: "bottom" } } };
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }
  draw("chart-ideas", { type: "bar", options: Object.assign({}, common,
      { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }),
    data: { labels: data.weeks, datasets: Object.keys(data.perWeekByArea).map(function (area, i) {
      return { label: area, data: data.perWeekByArea[area], backgroundColor: palette[i % palette.length] };
    }) } });
  draw("chart-lead", { type: "line", options: Object.assign({}, common,
      { scales: { y: { beginAtZero: true, title: { display: true, text: "days" } } } }),
    data: { labels: data.weeks, datasets: [{ label: "median days to a decision",
      data: data.leadTime, borderColor: palette[2], spanGaps: true }] } });
  draw("chart-implemented", { type: "line", options: Object.assign({}, common,
      { scales: { y: { beginAtZero: true } } }),
    data: { labels: data.weeks, datasets: [{ label: "implemented (cumulative)",
      data: data.implemented, borderColor: palette[1], backgroundColor: "rgba(46,125,50,.15)", fill: true }] } });
  draw("chart-people", { type: "bar", options: Object.assign({}, common,
      { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }),
    data: { labels: data.weeks, datasets: [{ label: "distinct contributors",
      data: data.contributors, backgroundColor: palette[4] }] } });
}());
