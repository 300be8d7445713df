// The visual rule builder: edits the rule's JSON tree (see segments.rules), asks the preview API
// for a live count, and saves through the segments API. Fields, operators and values come from
// GET /api/v1/segments/fields, so fields other capabilities register appear here by themselves.
(function () {
  var cfg = JSON.parse(document.getElementById("builder-config").textContent);
  var W = cfg.words;
  var fields = {};
  var order = [];
  var root = { kind: "all", negate: false, children: [] };
  var timer = null;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      // the page's language, so refusals come back in the words the reader sees around them
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": cfg.csrf,
        "Accept-Language": document.documentElement.lang || "zh-CN",
      },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    }).then(function (r) {
      return r.text().then(function (text) {
        var data;
        try { data = JSON.parse(text); } catch (e) { data = { detail: r.status + " " + text.slice(0, 200) }; }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }

  function newCondition() {
    return { field: order[0], op: fields[order[0]].ops[0].op, value: "", days: "", from: "", to: "", where: "", event: "" };
  }

  function list(text) {
    return String(text).split(/[,，、]/).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function typed(spec, raw) {
    if (spec.type === "number" || spec.type === "measure" || spec.type === "segment") {
      var n = Number(raw);
      return raw === "" || isNaN(n) ? null : n;
    }
    return raw === "" ? null : raw;
  }

  // The JSON form of a condition, or null while it is incomplete.
  function conditionJson(c) {
    var spec = fields[c.field];
    var out = { field: c.field, op: c.op };
    if (c.op === "is_empty" || c.op === "is_not_empty") {
      // no value
    } else if (c.op === "between") {
      var parts = list(c.value).map(function (v) { return typed(spec, v); });
      if (parts.length !== 2 || parts.indexOf(null) >= 0) return null;
      out.value = parts;
    } else if (["in", "not_in", "has_any", "has_all", "has_none"].indexOf(c.op) >= 0 && spec.type !== "tag_group") {
      var values = list(c.value);
      if (!values.length) return null;
      out.value = values;
    } else {
      var v = typed(spec, c.value);
      if (v === null) return null;
      out.value = v;
    }
    if (spec.windowed) {
      if (c.days) out.window = { last_days: Number(c.days) };
      else if (c.from || c.to) {
        out.window = {};
        if (c.from) out.window.from = c.from;
        if (c.to) out.window.to = c.to;
      }
      var where = {};
      list(c.where).forEach(function (pair) {
        var kv = pair.split("=");
        if (kv.length === 2 && kv[0].trim()) (where[kv[0].trim()] = where[kv[0].trim()] || []).push(kv[1].trim());
      });
      if (Object.keys(where).length) out.where = where;
    }
    if (spec.needs_event) {
      if (!c.event) return null;
      out.event = c.event;
    }
    return out;
  }

  function nodeJson(n) {
    var out;
    if (n.children) {
      var kids = n.children.map(nodeJson);
      if (!kids.length || kids.indexOf(null) >= 0) return null;
      out = {};
      out[n.kind] = kids;
    } else {
      out = conditionJson(n);
      if (!out) return null;
    }
    return n.negate ? { not: out } : out;
  }

  // The editor's tree of a rule in JSON form (a drill-down from the dashboard arrives so).
  function fromJson(n) {
    if (n.not) { var inner = fromJson(n.not); inner.negate = !inner.negate; return inner; }
    if (n.all || n.any) {
      var kind = n.all ? "all" : "any";
      return { kind: kind, negate: false, children: n[kind].map(fromJson) };
    }
    var c = { field: n.field, op: n.op, value: "", days: "", from: "", to: "", where: "", event: n.event || "", negate: false };
    if (Array.isArray(n.value)) c.value = n.value.join(", ");
    else if (n.value !== undefined && n.value !== null) c.value = String(n.value);
    var w = n.window || {};
    if (w.last_days) c.days = String(w.last_days);
    if (w.from) c.from = w.from;
    if (w.to) c.to = w.to;
    if (n.where) c.where = Object.keys(n.where).map(function (k) { return [].concat(n.where[k]).map(function (v) { return k + "=" + v; }).join(", "); }).join(", ");
    return c;
  }

  function known(n) {
    return n.children ? n.children.every(known) : Boolean(fields[n.field]);
  }

  function select(options, current, onchange) {
    var s = el("select", { onchange: onchange });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (o[0] === current) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  function input(value, placeholder, onchange, type) {
    var i = el("input", { value: value || "", placeholder: placeholder || "", type: type || "text" });
    i.addEventListener("input", function () { onchange(i.value); });
    return i;
  }

  function renderCondition(c, parent) {
    var spec = fields[c.field];
    var row = el("div", { class: "cond", "data-testid": "condition" });
    row.appendChild(select(order.map(function (f) { return [f, fields[f].group + " · " + fields[f].label]; }), c.field, function (e) {
      c.field = e.target.value;
      c.op = fields[c.field].ops[0].op;
      c.value = "";
      draw();
    }));
    row.appendChild(select(spec.ops.map(function (o) { return [o.op, o.label]; }), c.op, function (e) { c.op = e.target.value; draw(); }));
    if (spec.needs_event) row.appendChild(input(c.event, W.event, function (v) { c.event = v; changed(); }));
    if (c.op !== "is_empty" && c.op !== "is_not_empty") {
      var hint = spec.unit ? spec.unit : "";
      if (spec.values.length && ["=", "!="].indexOf(c.op) >= 0) {
        if (!c.value) c.value = spec.values[0];
        row.appendChild(select(spec.values.map(function (v) { return [v, v]; }), c.value, function (e) { c.value = e.target.value; changed(); }));
      } else if (spec.type === "date" && c.op !== "between") {
        row.appendChild(input(c.value, "", function (v) { c.value = v; changed(); }, "date"));
      } else {
        var field = input(c.value, (spec.values.slice(0, 4).join(", ") || hint), function (v) { c.value = v; changed(); });
        field.setAttribute("data-testid", "condition-value");
        if (spec.values.length) {
          var id = "values-" + spec.name.replace(/\W/g, "_");
          field.setAttribute("list", id);
          row.appendChild(el("datalist", { id: id }, spec.values.map(function (v) { return el("option", { value: v }); })));
        }
        row.appendChild(field);
      }
    }
    if (spec.windowed) {
      row.appendChild(input(c.days, W.window_days, function (v) { c.days = v; changed(); }, "number"));
      row.appendChild(input(c.from, W.window_from, function (v) { c.from = v; changed(); }, "date"));
      row.appendChild(input(c.to, W.window_to, function (v) { c.to = v; changed(); }, "date"));
      row.appendChild(input(c.where, W.filters, function (v) { c.where = v; changed(); }));
    }
    row.appendChild(negate(c));
    row.appendChild(el("button", { class: "link", text: W.remove, onclick: function () { remove(parent, c); } }));
    return row;
  }

  function negate(n) {
    var box = el("input", { type: "checkbox" });
    box.checked = n.negate;
    box.addEventListener("change", function () { n.negate = box.checked; changed(); });
    return el("label", { class: "negate" }, [box, document.createTextNode(W.negate)]);
  }

  function remove(parent, node) {
    if (!parent) return;
    parent.children.splice(parent.children.indexOf(node), 1);
    draw();
  }

  function renderGroup(g, parent) {
    var box = el("div", { class: "group", "data-testid": "group" });
    var head = el("div", { class: "group-head" });
    head.appendChild(select([["all", W.all], ["any", W.any]], g.kind, function (e) { g.kind = e.target.value; changed(); }));
    head.appendChild(negate(g));
    head.appendChild(el("button", { "data-testid": "add-condition", text: W.add_condition, onclick: function () { g.children.push(newCondition()); draw(); } }));
    head.appendChild(el("button", { "data-testid": "add-group", text: W.add_group, onclick: function () { g.children.push({ kind: "all", negate: false, children: [newCondition()] }); draw(); } }));
    if (parent) head.appendChild(el("button", { class: "link", text: W.remove, onclick: function () { remove(parent, g); } }));
    box.appendChild(head);
    g.children.forEach(function (child) {
      box.appendChild(child.children ? renderGroup(child, g) : renderCondition(child, g));
    });
    return box;
  }

  function draw() {
    var host = document.getElementById("rule-root");
    host.innerHTML = "";
    host.appendChild(renderGroup(root, null));
    changed();
  }

  function changed() {
    clearTimeout(timer);
    timer = setTimeout(preview, 350);
  }

  function preview() {
    var rule = nodeJson(root);
    var error = document.getElementById("rule-error");
    if (!rule) { document.getElementById("live-count").textContent = "–"; error.textContent = ""; return; }
    api("POST", "/api/v1/segments/preview", { rule: rule }).then(function (r) {
      if (!r.ok) {
        var d = r.data.detail;
        error.textContent = d && d.path ? d.path + ": " + d.reason : (typeof d === "string" ? d : "");
        return;
      }
      error.textContent = "";
      var p = r.data;
      document.getElementById("live-count").textContent = p.count.toLocaleString();
      document.getElementById("live-asof").textContent = p.data_as_of ? W.as_of + " " + p.data_as_of.slice(0, 16).replace("T", " ") : "";
      document.getElementById("rule-text").textContent = p.rule_text;
      document.getElementById("live-reach").textContent = W.reach.replace("{sms}", p.reach.sms).replace("{email}", p.reach.email).replace("{wecom}", p.reach.wecom);
      var body = document.getElementById("live-sample");
      body.innerHTML = "";
      p.sample.forEach(function (s) {
        body.appendChild(el("tr", {}, [el("td", { text: s.customer_id }), el("td", { text: s.name || "" }), el("td", { text: s.phone || "" }), el("td", { text: s.city || "" })]));
      });
    });
  }

  document.getElementById("save").addEventListener("click", function () {
    var rule = nodeJson(root);
    var name = document.getElementById("segment-name").value.trim();
    var error = document.getElementById("rule-error");
    if (!rule || !name) { error.textContent = !name ? W.need_name : W.need_rule; return; }
    api("POST", "/api/v1/segments", { name: name, rule: rule }).then(function (r) {
      if (r.ok) {
        // fill the membership now, so the segment's page shows it (the worker would, later)
        var id = r.data.id;
        api("POST", "/api/v1/segments/" + id + "/refresh").then(function () { window.location = "/segments/" + id; });
        return;
      }
      var d = r.data.detail;
      error.textContent = d && d.path ? d.path + ": " + d.reason : (typeof d === "string" ? d : "");
    });
  });

  fetch("/api/v1/segments/fields", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (list) {
    list.forEach(function (f) { fields[f.name] = f; order.push(f.name); });
    var given = cfg.rule ? fromJson(cfg.rule) : null;
    if (given && known(given)) {
      root = given.children ? given : { kind: "all", negate: false, children: [given] };
    } else {
      root.children.push(newCondition());
    }
    if (cfg.name) document.getElementById("segment-name").value = cfg.name;
    draw();
  });
})();
