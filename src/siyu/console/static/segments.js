// The segment page's size trend (data from #size-data).
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("size-chart");
  var data = JSON.parse(document.getElementById("size-data").textContent);
  if (!el || !window.echarts) return;
  echarts.init(el).setOption({
    tooltip: { trigger: "axis", formatter: window.Siyu.tooltip },  // names escaped (siyu.js)
    grid: { left: 56, right: 16, top: 16, bottom: 32 },
    xAxis: { type: "category", data: data.history.map(function (h) { return h.local; }) },
    yAxis: { type: "value" },
    series: [{ name: data.label, type: "line", data: data.history.map(function (h) { return h.size; }) }],
  });
});
