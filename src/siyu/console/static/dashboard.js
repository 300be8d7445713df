// The dashboard's charts, from #dashboard-data: new customers by source (bars), the retention
// heatmap (acquisition month × 1/7/30 days), the RFM treemap, lifecycle stages, the lifecycle
// flow between the last two recomputes (sankey) and CLV bands.
// A click on a bar, cell or tile opens the customers behind it (each item carries its url);
// every chart can be saved as a PNG from its toolbox. Names come from the data (sources,
// funnel steps, stores someone typed), and ECharts shows tooltips as HTML, so every tooltip
// goes through Siyu.esc (siyu.js); labels are drawn on the canvas as plain text.
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("dashboard-data");
  if (!el || !window.echarts) return;
  var data = JSON.parse(el.textContent);
  var esc = window.Siyu.esc;
  var zh = data.lang !== "en";
  var toolbox = { right: 8, feature: { saveAsImage: { title: data.png, pixelRatio: 2 } } };

  function chart(id, items, option) {
    var host = document.getElementById(id);
    if (!host || !items.length) return;
    var c = echarts.init(host);
    window.addEventListener("resize", function () { c.resize(); });
    option.toolbox = toolbox;
    c.on("finished", function () { host.setAttribute("data-drawn", "1"); });  // animation done
    c.setOption(option);
    c.on("click", function (p) {
      var item = p.data && "url" in p.data ? p.data : items[p.dataIndex];
      if (item && item.url) window.location = item.url;
    });
  }

  function bars(id, items) {
    chart(id, items, {
      tooltip: { formatter: function (p) { return esc(items[p.dataIndex].name) + ": " + esc(p.value); } },
      grid: { left: 48, right: 16, top: 32, bottom: 48 },
      xAxis: { type: "category", data: items.map(function (r) { return r.name; }), axisLabel: { interval: 0, rotate: items.length > 5 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: items.map(function (r) { return { value: r.value, url: r.url }; }), cursor: "pointer" }],
    });
  }

  bars("sources-chart", data.sources);
  bars("lifecycle-chart", data.lifecycle);
  bars("clv-chart", data.clv);

  chart("rfm-chart", data.rfm, {
    tooltip: { formatter: window.Siyu.tooltip },
    series: [{ type: "treemap", roam: false, nodeClick: false, breadcrumb: { show: false }, top: 32, data: data.rfm, label: { formatter: "{b}\n{c}" } }],
  });

  // Lifecycle flow: stages at the recompute before on the left, at the latest on the right
  // (a node per side, so staying put is a band too); a click on a band opens its "to" stage.
  var flows = data.flows || [];
  var nodes = {};
  var links = flows.map(function (f) {
    var a = "0:" + f.from, b = "1:" + f.to;
    nodes[a] = { name: a, shown: f.from, url: null };
    nodes[b] = { name: b, shown: f.to, url: f.url };
    return { source: a, target: b, value: f.value, url: f.url };
  });
  chart("flow-chart", flows, {
    tooltip: { formatter: function (p) {
      return p.dataType === "edge"
        ? esc(nodes[p.data.source].shown) + " → " + esc(nodes[p.data.target].shown) + ": " + esc(p.data.value)
        : esc(p.data.shown);
    } },
    series: [{
      type: "sankey", top: 32, bottom: 8, left: 8, right: 96, nodeAlign: "justify",
      data: Object.keys(nodes).map(function (k) { return nodes[k]; }),
      links: links, emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", opacity: 0.4 },
      label: { formatter: function (p) { return p.data.shown; } },
    }],
  });

  chart("funnel-chart", data.funnel || [], {
    tooltip: { formatter: window.Siyu.tooltip },
    series: [{ type: "funnel", sort: "none", top: 32, bottom: 8, left: "10%", width: "80%", minSize: "8%",
      data: (data.funnel || []).map(function (s) { return { name: s.name, value: s.value, url: s.url }; }),
      label: { formatter: "{b}  {c}" } }],
  });

  var rows = data.retention;
  var days = zh ? ["次日", "7 日", "30 日"] : ["Next day", "7 days", "30 days"];
  var cells = [];
  rows.forEach(function (c, y) {
    [c.d1, c.d7, c.d30].forEach(function (v, x) { cells.push({ value: [x, y, Math.round(v * 1000) / 10], url: c.url }); });
  });
  chart("retention-chart", rows, {
    tooltip: { formatter: function (p) { return esc(rows[p.value[1]].cohort) + " " + esc(days[p.value[0]]) + ": " + esc(p.value[2]) + "%"; } },
    grid: { left: 64, right: 16, top: 32, bottom: 48 },
    xAxis: { type: "category", data: days },
    yAxis: { type: "category", data: rows.map(function (c) { return c.cohort; }) },
    visualMap: { min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, calculable: false },
    series: [{ type: "heatmap", data: cells, label: { show: true, formatter: function (p) { return p.value[2] + "%"; } } }],
  });
});
