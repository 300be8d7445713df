// The dashboard's charts: new customers by source (bars) and the retention heatmap
// (acquisition month × 1/7/30 days), from #dashboard-data.
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("dashboard-data");
  if (!el || !window.echarts) return;
  var data = JSON.parse(el.textContent);
  var zh = data.lang !== "en";
  var sources = document.getElementById("sources-chart");
  if (sources && data.sources.length) {
    echarts.init(sources).setOption({
      tooltip: {},
      grid: { left: 40, right: 16, top: 16, bottom: 32 },
      xAxis: { type: "category", data: data.sources.map(function (r) { return r.source || "—"; }) },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: data.sources.map(function (r) { return r.customers; }) }],
    });
  }
  var heat = document.getElementById("retention-chart");
  var rows = data.retention.filter(function (c) { return c.source === null; });
  if (heat && rows.length) {
    var days = zh ? ["次日", "7 日", "30 日"] : ["Next day", "7 days", "30 days"];
    var cells = [];
    rows.forEach(function (c, y) {
      [c.d1, c.d7, c.d30].forEach(function (v, x) { cells.push([x, y, Math.round(v * 1000) / 10]); });
    });
    echarts.init(heat).setOption({
      tooltip: { formatter: function (p) { return rows[p.value[1]].cohort + " " + days[p.value[0]] + ": " + p.value[2] + "%"; } },
      grid: { left: 64, right: 16, top: 16, bottom: 48 },
      xAxis: { type: "category", data: days },
      yAxis: { type: "category", data: rows.map(function (c) { return c.cohort; }) },
      visualMap: { min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, calculable: false },
      series: [{ type: "heatmap", data: cells, label: { show: true, formatter: function (p) { return p.value[2] + "%"; } } }],
    });
  }
});
