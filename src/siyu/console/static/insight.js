// Line charts of the trait distribution over recomputes (data from #trend-data).
document.addEventListener("DOMContentLoaded", function () {
  var data = JSON.parse(document.getElementById("trend-data").textContent);
  var zh = data.lang !== "en";
  function draw(id, lines) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return;
    echarts.init(el).setOption({
      tooltip: { trigger: "axis", formatter: window.Siyu.tooltip },  // names escaped (siyu.js)
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 40, right: 16, top: 16, bottom: 48 },
      xAxis: { type: "category", data: data.series.dates },
      yAxis: { type: "value" },
      series: lines.map(function (l) {
        return { name: zh ? l.zh : l.en, type: "line", data: l.counts };
      }),
    });
  }
  draw("lifecycle-chart", data.series.lifecycle);
  draw("rfm-chart", data.series.rfm_classes);
});
