// Renders /openapi.json as a reference: routes by tag, their parameters, bodies
// and answers with their schemas, the webhooks Herald sends, and every schema.
// Only DOM calls with text, so nothing in the document is read as markup.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function code(text) {
  return el("code", {}, String(text));
}

function refName(ref) {
  return ref.split("/").pop();
}

function resolve(doc, schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 16) {
    schema = doc.components.schemas[refName(schema.$ref)];
  }
  return schema || {};
}

// A one-line description of a schema's type.
function typeOf(doc, schema) {
  if (!schema) return "any";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.oneOf || schema.anyOf) {
    return (schema.oneOf || schema.anyOf).map((s) => typeOf(doc, s)).join(" | ");
  }
  if (schema.allOf) return schema.allOf.map((s) => typeOf(doc, s)).join(" & ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  let type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any";
  if (schema.type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    type = type.replace("array", "array of " + typeOf(doc, schema.items));
  }
  if (schema.format) type += " (" + schema.format + ")";
  return type;
}

function limits(schema) {
  const parts = [];
  for (const key of ["minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern"]) {
    if (schema[key] !== undefined) parts.push(key + " " + schema[key]);
  }
  return parts.join(", ");
}

// A table of an object schema's properties, following references one level.
function schemaTable(doc, schema) {
  const resolved = resolve(doc, schema);
  const wrap = el("div", {});
  if (schema && schema.$ref) wrap.append(el("p", {}, "Schema ", code(refName(schema.$ref))));
  const target = resolved.allOf ? Object.assign({}, ...resolved.allOf.map((s) => resolve(doc, s))) : resolved;
  if (!target.properties) {
    wrap.append(el("p", {}, "Type: ", code(typeOf(doc, resolved))));
    return wrap;
  }
  const required = new Set(target.required || []);
  const rows = Object.entries(target.properties).map(([name, prop]) =>
    el("tr", {},
      el("td", {}, code(name), required.has(name) ? el("span", { class: "req" }, " required") : null),
      el("td", {}, typeOf(doc, prop)),
      el("td", {}, [prop.description || resolve(doc, prop).description || "", limits(prop) ? " (" + limits(prop) + ")" : ""].join(""))));
  wrap.append(el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Type"), el("th", {}, "Meaning"))), el("tbody", {}, rows)));
  if (target.example !== undefined) wrap.append(el("pre", {}, JSON.stringify(target.example, null, 2)));
  return wrap;
}

function parameters(doc, params) {
  if (!params || params.length === 0) return null;
  const rows = params.map((p) =>
    el("tr", {},
      el("td", {}, code(p.name), p.required ? el("span", { class: "req" }, " required") : null),
      el("td", {}, p.in),
      el("td", {}, typeOf(doc, p.schema)),
      el("td", {}, p.description || "")));
  return el("div", {}, el("h4", {}, "Parameters"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Meaning"))), el("tbody", {}, rows)));
}

function body(doc, requestBody) {
  if (!requestBody) return null;
  const parts = [el("h4", {}, "Body")];
  if (requestBody.description) parts.push(el("p", {}, requestBody.description));
  for (const [type, media] of Object.entries(requestBody.content || {})) {
    parts.push(el("p", {}, code(type), requestBody.required ? "" : " (optional)"));
    parts.push(schemaTable(doc, media.schema));
  }
  return el("div", {}, parts);
}

function responses(doc, answers) {
  const parts = [el("h4", {}, "Answers")];
  for (const [status, response] of Object.entries(answers || {})) {
    const media = Object.entries(response.content || {});
    const summary = el("summary", {}, code(status), " ", response.description || "");
    const inner = el("div", {});
    for (const [type, m] of media) {
      inner.append(el("p", {}, code(type)));
      inner.append(schemaTable(doc, m.schema));
    }
    parts.push(media.length ? el("details", {}, summary, inner) : el("p", {}, code(status), " ", response.description || ""));
  }
  return el("div", {}, parts);
}

function operation(doc, method, path, op, id) {
  const summary = el("summary", {},
    el("span", { class: "method " + method }, method),
    el("span", { class: "path" }, path),
    el("span", { class: "summary" }, op.summary || ""));
  const details = el("details", { class: "op", id: id, "data-search": (method + " " + path + " " + (op.summary || "") + " " + (op.description || "")).toLowerCase() },
    summary,
    el("div", {},
      op.description ? el("p", {}, op.description) : null,
      parameters(doc, op.parameters),
      body(doc, op.requestBody),
      responses(doc, op.responses)));
  return details;
}

function render(doc) {
  const content = document.getElementById("content");
  const toc = document.getElementById("toc");
  content.textContent = "";
  document.getElementById("title").textContent = (doc.info.title || "API") + " API reference";
  const intro = el("section", {}, el("h2", { id: "about" }, "About"));
  for (const para of (doc.info.description || "").split("\n\n")) intro.append(el("p", {}, para));
  intro.append(el("p", {}, "Version ", code(doc.info.version || "")));
  content.append(intro);
  toc.append(el("a", { href: "#about" }, "About"));

  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
      byTag.get(tag).ops.push([method, path, op]);
    }
  }
  let n = 0;
  for (const { tag, ops } of byTag.values()) {
    const section = el("section", { class: "tag" }, el("h2", { id: "tag-" + tag.name }, tag.name));
    if (tag.description) section.append(el("p", {}, tag.description));
    for (const [method, path, op] of ops) section.append(operation(doc, method, path, op, "op-" + n++));
    content.append(section);
    toc.append(el("a", { href: "#tag-" + tag.name }, tag.name));
  }
  if (doc.webhooks) {
    const section = el("section", { class: "tag" }, el("h2", { id: "webhooks" }, "Webhooks Herald sends"));
    for (const [name, item] of Object.entries(doc.webhooks)) {
      for (const method of METHODS) {
        if (item[method]) section.append(operation(doc, method, name, item[method], "op-" + n++));
      }
    }
    content.append(section);
    toc.append(el("a", { href: "#webhooks" }, "Webhooks"));
  }
  const schemas = el("section", {}, el("h2", { id: "schemas" }, "Schemas"));
  for (const [name, schema] of Object.entries((doc.components && doc.components.schemas) || {})) {
    schemas.append(el("details", { class: "op", id: "schema-" + name, "data-search": name.toLowerCase() },
      el("summary", {}, el("span", { class: "path" }, name), el("span", { class: "summary" }, schema.description || "")),
      el("div", {}, schemaTable(doc, { $ref: "#/components/schemas/" + name }))));
  }
  content.append(schemas);
  toc.append(el("a", { href: "#schemas" }, "Schemas"));
}

function filter(text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  for (const node of document.querySelectorAll("[data-search]")) {
    const hay = node.getAttribute("data-search");
    node.classList.toggle("hidden", !words.every((w) => hay.includes(w)));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("filter").addEventListener("input", (e) => filter(e.target.value));
  fetch("/openapi.json")
    .then((r) => {
      if (!r.ok) throw new Error("the document answered " + r.status);
      return r.json();
    })
    .then(render)
    .catch((err) => {
      document.getElementById("status").textContent = "The document could not be read: " + err.message;
    });
});
