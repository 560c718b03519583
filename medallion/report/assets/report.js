/* medallion run report: builds Apache ECharts options from the page's JSON data.
 * All drawing is done by ECharts; this file only maps the report's series onto chart options. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var COLORS = { bronze: "#b8732e", silver: "#8792a2", gold: "#d4a72c", dead_letters: "#d0342c", landing: "#2f6fdb" };
  var STATUS = { succeeded: "#1f9d55", failed: "#d0342c", skipped: "#7a8597", blocked: "#b7791f", "never run": "#b6bfcc" };
  var SERIES_COLORS = ["#b8732e", "#8792a2", "#d0342c", "#d4a72c", "#2f6fdb", "#7b61c4", "#2a9d8f"];
  var charts = [];
  var esc = echarts.format.encodeHTML;  // run-log text reaches tooltips (HTML) only through this

  function axisLabels(trends) {
    return {
      color: function (value, index) { return trends.statuses[index] === "failed" ? "#d0342c" : "#5b6676"; },
      fontSize: 11
    };
  }

  function tooltipTitle(trends, index) {
    return "run " + esc(trends.run_ids[index]) + " (" + esc(trends.statuses[index]) + ")";
  }

  function base(trends, unit) {
    return {
      animation: false,
      color: SERIES_COLORS,
      grid: { left: 52, right: 14, top: 34, bottom: 28 },
      legend: { top: 0, left: 0, itemWidth: 14, itemHeight: 9, textStyle: { fontSize: 11 } },
      tooltip: {
        trigger: "axis",
        formatter: function (params) {
          var lines = [tooltipTitle(trends, params[0].dataIndex)];
          params.forEach(function (p) {
            var v = p.value === null || p.value === undefined ? "–" : p.value.toLocaleString() + unit;
            lines.push(p.marker + " " + esc(p.seriesName) + ": " + v);
          });
          return lines.join("<br>");
        }
      },
      xAxis: { type: "category", data: trends.labels, axisLabel: axisLabels(trends), axisTick: { alignWithLabel: true } },
      yAxis: { type: "value", axisLabel: { fontSize: 11 }, splitLine: { lineStyle: { color: "#eef1f5" } } }
    };
  }

  function rowsOption(t) {
    var option = base(t, " rows");
    option.color = [COLORS.bronze, COLORS.silver, COLORS.dead_letters, COLORS.gold];
    option.series = t.rows.map(function (s) {
      return { name: s.name, type: "bar", data: s.data, barMaxWidth: 16 };
    });
    return option;
  }

  function durationOption(t) {
    var option = base(t, " s");
    option.color = [COLORS.bronze, COLORS.silver, COLORS.gold];
    option.yAxis.axisLabel.formatter = "{value} s";
    option.series = t.duration.map(function (s) {
      return { name: s.name, type: "bar", stack: "duration", data: s.data, barMaxWidth: 28,
               color: COLORS[s.name] };
    });
    return option;
  }

  function ratesOption(t) {
    var option = base(t, " %");
    option.yAxis.axisLabel.formatter = "{value} %";
    option.color = ["#2f6fdb", "#d0342c", "#b7791f", "#7b61c4", "#2a9d8f", "#c2185b", "#5b6676"];
    option.series = t.failure_rate.map(function (s) {
      return { name: s.name, type: "line", data: s.data, connectNulls: false,
               symbolSize: 7, showAllSymbol: true };
    });
    return option;
  }

  function flowOption(f) {
    var kinds = {};
    f.nodes.forEach(function (n) { kinds[n.id] = n.kind; });
    return {
      animation: false,
      tooltip: { formatter: function (p) { return p.dataType === "edge" ? esc(p.data.text) : p.data.tip; } },
      series: [{
        type: "graph",
        layout: "none",
        roam: false,
        preserveAspect: true,  // keep node boxes their size whatever the card's shape
        left: 70, right: 80, top: 40, bottom: 40,
        symbol: "rect",
        symbolSize: [128, 46],
        label: { show: true, color: "#fff", fontWeight: 600, fontSize: 11.5, lineHeight: 15 },
        edgeLabel: { show: true, fontSize: 12, fontWeight: 600, color: "#1c2430", lineHeight: 16, distance: 6,
                     formatter: function (p) { return p.data.text; },
                     backgroundColor: "rgba(255,255,255,0.92)", padding: [2, 4], borderRadius: 3 },
        lineStyle: { width: 2, color: "#9aa5b4", curveness: 0, opacity: 1 },  // edge labels take this opacity
        data: f.nodes.map(function (n) {
          // Layer tables are filled by their latest run's status; landing and dead letters keep their own colour.
          var fill = n.kind === "landing" ? COLORS.landing : n.kind === "dead_letters" ? "#9b2c2c"
                   : (STATUS[n.status] || "#5b6676");
          var text = n.kind === "landing" || n.kind === "dead_letters" ? n.label : n.label + "\n" + n.status;
          return {
            name: n.id, x: n.x, y: n.y, tip: esc(n.label) + "<br>latest run: " + esc(n.status),
            symbolSize: n.kind === "dead_letters" ? [150, 46] : [140, 46],
            label: { formatter: text },
            itemStyle: { color: fill, borderRadius: 6 }
          };
        }),
        links: f.edges.map(function (e) {
          return { source: e.source, target: e.target, value: e.value, text: e.label,
                   lineStyle: { width: e.value > 0 ? 3 : 1.5, type: e.value > 0 ? "solid" : "dashed",
                                color: kinds[e.target] === "dead_letters" ? "#e08a84" : "#9aa5b4" } };
        })
      }]
    };
  }

  var builders = {
    flow: function (ds) { return flowOption(ds.flow); },
    rows: function (ds) { return rowsOption(ds.trends); },
    duration: function (ds) { return durationOption(ds.trends); },
    rates: function (ds) { return ratesOption(ds.trends); }
  };

  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var ds = data.datasets[Number(el.getAttribute("data-dataset"))];
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(builders[el.getAttribute("data-chart")](ds));
    el.setAttribute("data-rendered", "true");
    charts.push(chart);
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  document.body.setAttribute("data-charts", String(charts.length));
})();
