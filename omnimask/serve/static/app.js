// The omnimask page: every interaction is one call of the HTTP API (see /docs); pictures come back as PNG.
"use strict";

const $ = (id) => document.getElementById(id);
const png = (b64) => "data:image/png;base64," + b64;
let model = null;  // GET /model
let scene = null;  // GET /scene/{i}, or a photo
let boxes = [];    // the boxes being dragged (normalised [x0, y0, x1, y1])
let current = null;  // the RGB the box drag in-paints (base64 PNG): the scene's, then each answer's
// RGB generated without an image to copy from: a few sampled ROAR steps with guidance (the demo's settings).
const FROM_SCRATCH = {scheme: "roar", num_steps: 8, temperature: 1.0, guidance_scale: 2.0};

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

// One API call with a progress line while it runs; errors show the field the server names.
async function api(method, path, body) {
  const started = performance.now();
  const tick = setInterval(() => status(`working: ${method} ${path} … ${((performance.now() - started) / 1000).toFixed(1)} s`), 100);
  status(`working: ${method} ${path} …`);
  try {
    const response = await fetch(path, {method, headers: {"content-type": "application/json"},
                                         body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await response.json();
    if (!response.ok) {
      const d = (data.detail || [])[0] || {};
      throw new Error(`${response.status}: ${(d.loc || []).join(".")}: ${d.msg || response.statusText}`);
    }
    status(`done: ${method} ${path} in ${((performance.now() - started) / 1000).toFixed(2)} s` +
           (data.plan ? ` — ${data.plan}` : ""), "idle");
    return data;
  } catch (err) {
    status(`error: ${err.message}`, "error");
    throw err;
  } finally {
    clearInterval(tick);
  }
}

// Metadata as bars: a bounded key over its range (GET /model gives them), a count against the largest shown.
function metadataChart(value) {
  const ranges = (model.modalities.find((m) => m.role === "metadata") || {}).ranges || {};
  const keys = Object.keys(value);
  const most = Math.max(1, ...keys.filter((k) => !ranges[k]).map((k) => Math.abs(value[k])));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 192 192");
  const add = (tag, attributes, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.appendChild(el);
  };
  const row = 192 / Math.max(keys.length, 1);
  keys.forEach((key, i) => {
    const [lo, hi] = ranges[key] || [0, most];
    const fraction = Math.min(Math.max((value[key] - lo) / (hi - lo || 1), 0), 1);
    add("rect", {x: 124, y: i * row + 1, width: Math.max(66 * fraction, 0.5), height: row - 2, fill: "#4c8bd6"});
    add("text", {x: 122, y: (i + 0.8) * row, "text-anchor": "end", "font-size": Math.min(row - 1.5, 7.5)},
        `${key} ${+Number(value[key]).toPrecision(3)}`);
  });
  return svg;
}

// Boxes drawn over the scene's RGB, palette colours as swatches, metadata as bars: structured outputs as pictures.
function structured(role, value) {
  if (role === "metadata" && value && typeof value === "object" && !Array.isArray(value)) return metadataChart(value);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 192;
  const ctx = canvas.getContext("2d");
  if (role === "det" && Array.isArray(value)) {
    const draw = () => {
      ctx.lineWidth = 2;
      ctx.strokeStyle = ctx.fillStyle = "#ffdd00";
      for (const b of value) {
        const [x0, y0, x1, y1] = b.box.map((v) => v * 192);
        ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
        ctx.fillText(b.class, x0 + 2, y0 + 10);
      }
    };
    if (scene && scene.rgb) drawImage(canvas, png(scene.rgb)).then(draw); else draw();
    return canvas;
  }
  const colors = Array.isArray(value) ? value : value && value.colors;  // an answer's list, or a condition's
  if (role === "color_palette" && Array.isArray(colors) && colors.length) {
    colors.forEach((c, i) => {
      ctx.fillStyle = `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
      ctx.fillRect(0, i * 192 / colors.length, 192, 192 / colors.length + 1);
    });
    return canvas;
  }
  return null;
}

function figure(title, output) {
  const fig = document.createElement("figure");
  const role = title.split(" ")[0];
  const picture = output.png ? null : structured(role, output.value);
  if (picture) {
    fig.appendChild(picture);
  } else if (output.png) {
    const img = document.createElement("img");
    img.src = png(output.png);
    img.alt = title;
    fig.appendChild(img);
  } else {
    const div = document.createElement("div");
    div.className = "text";
    div.textContent = output.text || JSON.stringify(output.value);
    fig.appendChild(div);
  }
  const cap = document.createElement("figcaption");
  cap.textContent = title;
  fig.appendChild(cap);
  return fig;
}

function show(container, outputs) {
  const el = $(container);
  el.innerHTML = "";
  for (const [role, output] of Object.entries(outputs)) el.appendChild(figure(`${role} (${output.modality})`, output));
}

function outputRoles(exclude) {
  return model.modalities.filter((m) => m.output && m.role && !exclude.includes(m.role)).map((m) => m.role);
}

function drawImage(canvas, src) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => {
      const ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      resolve(img);
    };
    img.src = src;
  });
}

// -- the scene ------------------------------------------------------------------------------
async function loadScene() {
  scene = await api("GET", `/scene/${$("scene-index").value}`);
  boxes = scene.det.map((b) => ({...b, box: [...b.box]}));
  current = scene.rgb;
  $("caption").value = scene.caption;
  show("scene", {rgb: {modality: "rgb", png: scene.rgb}, depth: {modality: "depth", png: scene.depth_picture},
                 semseg: {modality: "semseg", png: scene.semseg_picture}, caption: {modality: "caption", text: scene.caption}});
  $("box-rgb").src = png(current);
  await drawBoxes(png(current));
  await drawImage($("seg-canvas"), png(scene.semseg_picture));
}

async function loadPhoto(file) {
  const data = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.split(",")[1]);
    reader.readAsDataURL(file);
  });
  scene = {...(scene || {}), rgb: data, photo: true};
  show("scene", {rgb: {modality: "your photo", png: data}});
}

// -- chained generation -----------------------------------------------------------------------
async function rgbToAll() {
  const out = await api("POST", "/generate", {conditions: {rgb: scene.rgb}, targets: outputRoles(["tok_rgb", "global"])});
  show("rgb-outputs", out.outputs);
}

async function captionToAll() {
  const targets = ["tok_rgb", ...outputRoles(["tok_rgb", "global", "caption", "metadata", "color_palette"])];
  const out = await api("POST", "/generate", {conditions: {caption: $("caption").value}, targets,
                                              settings: {tok_rgb: FROM_SCRATCH}});
  show("caption-outputs", out.outputs);
}

// -- box drag: in-painting ------------------------------------------------------------------
// A keep mask of the model's size: white where the RGB is kept, black over the areas ([x0, y0, x1, y1] in [0, 1]).
function keepMask(areas) {
  const c = document.createElement("canvas");
  c.width = c.height = model.resolution;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.fillStyle = "#000";
  for (const area of areas) {
    const [x0, y0, x1, y1] = area.map((v) => v * c.width);
    ctx.fillRect(Math.floor(x0), Math.floor(y0), Math.ceil(x1) - Math.floor(x0), Math.ceil(y1) - Math.floor(y0));
  }
  return c.toDataURL("image/png").split(",")[1];
}

let background = null;
async function drawBoxes(src) {
  const canvas = $("box-canvas");
  if (src) background = src;
  if (background) await drawImage(canvas, background);
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 2;
  for (const b of boxes) {
    const [x0, y0, x1, y1] = b.box.map((v) => v * canvas.width);
    ctx.strokeStyle = "#ffdd00";
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.fillStyle = "#ffdd00";
    ctx.fillText(b.class, x0 + 2, y0 + 10);
  }
}

function installBoxDrag() {
  const canvas = $("box-canvas");
  let drag = null;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
  };
  canvas.addEventListener("mousedown", (e) => {
    const [x, y] = at(e);
    const index = boxes.findIndex((b) => x >= b.box[0] && x <= b.box[2] && y >= b.box[1] && y <= b.box[3]);
    if (index >= 0) drag = {index, x, y, start: [...boxes[index].box]};
  });
  canvas.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const [x, y] = at(e);
    const w = drag.start[2] - drag.start[0], h = drag.start[3] - drag.start[1];
    const x0 = Math.min(Math.max(drag.start[0] + x - drag.x, 0), 1 - w);
    const y0 = Math.min(Math.max(drag.start[1] + y - drag.y, 0), 1 - h);
    boxes[drag.index].box = [x0, y0, x0 + w, y0 + h];
    drawBoxes();
  });
  // On release the RGB's tokens under the box's old and new places are generated again from the caption, the
  // moved boxes and the kept tokens (same seed); the rest of the picture is kept, and the next drag goes on from it.
  window.addEventListener("mouseup", async () => {
    if (!drag) return;
    const {index, start} = drag;
    drag = null;
    const moved = boxes[index].box;
    if (moved.every((v, i) => v === start[i])) return;
    const det = boxes.map((b) => ({class: b.class, box: b.box}));
    const out = await api("POST", "/generate", {conditions: {tok_rgb: current, caption: $("caption").value, det},
                                                masks: {tok_rgb: keepMask([start, moved])}, targets: ["tok_rgb"],
                                                settings: {tok_rgb: FROM_SCRATCH}, seed: 0});
    current = out.outputs.tok_rgb.png;
    $("box-rgb").src = png(current);
    await drawBoxes(png(current));
  });
}

// -- semantic repaint -------------------------------------------------------------------------
function installRepaint() {
  const canvas = $("seg-canvas");
  canvas.addEventListener("click", async (e) => {
    const r = canvas.getBoundingClientRect();
    const ids = await classIds();
    const x = Math.floor((e.clientX - r.left) / r.width * ids.width), y = Math.floor((e.clientY - r.top) / r.height * ids.height);
    $("seg-old").textContent = ids.data[4 * (y * ids.width + x)];
  });
  $("seg-repaint").addEventListener("click", async () => {
    const old = Number($("seg-old").textContent);
    if (Number.isNaN(old)) return status("click the semantic map first to pick a class", "error");
    const out = await api("POST", "/edit", {conditions: {semseg: scene.semseg}, targets: ["tok_rgb"],
                                            settings: {tok_rgb: FROM_SCRATCH}, edits: [{op: "replace_class", old, new: Number($("seg-new").value)}]});
    $("seg-rgb").src = png(out.outputs.tok_rgb.png);
  });
}

// The class ids of the scene's semantic map: its layout PNG holds them as grey levels.
async function classIds() {
  const img = new Image();
  await new Promise((resolve) => { img.onload = resolve; img.src = png(scene.semseg); });
  const c = document.createElement("canvas");
  c.width = img.width;
  c.height = img.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return ctx.getImageData(0, 0, c.width, c.height);
}

// -- guidance, metadata, retrieval ------------------------------------------------------------
async function guided() {
  const w = Number($("guidance").value);
  $("guidance-value").textContent = w;
  const out = await api("POST", "/generate", {conditions: {caption: $("caption").value}, targets: ["tok_rgb"],
                                              settings: {tok_rgb: {...FROM_SCRATCH, guidance_scale: w,
                                                                   guidance_conditions: ["caption"]}}});
  $("guided-rgb").src = png(out.outputs.tok_rgb.png);
}

async function steer() {
  const values = {brightness: Number($("brightness").value), contrast: Number($("contrast").value)};
  const out = await api("POST", "/edit", {conditions: {caption: $("caption").value}, targets: ["tok_rgb"],
                                          settings: {tok_rgb: FROM_SCRATCH}, edits: [{op: "set_metadata", values}]});
  $("steered-rgb").src = png(out.outputs.tok_rgb.png);
}

async function retrieve() {
  const by = $("retrieve-by").value;
  const query = by === "caption" ? {caption: $("caption").value} : {[by]: scene[by]};
  const out = await api("POST", "/retrieve", {query, top_k: Number($("top-k").value)});
  const el = $("hits");
  el.innerHTML = "";
  for (const h of out.hits) el.appendChild(figure(`scene ${h.scene} · cos ${h.similarity.toFixed(2)}`, {png: h.png}));
}

async function main() {
  model = await api("GET", "/model");
  $("model").textContent = `${model.path}: ${(model.parameters / 1e6).toFixed(1)} M parameters, ` +
    `${model.modalities.length} modalities at ${model.resolution} px`;
  $("load-scene").addEventListener("click", loadScene);
  $("photo").addEventListener("change", (e) => e.target.files[0] && loadPhoto(e.target.files[0]));
  $("rgb-to-all").addEventListener("click", rgbToAll);
  $("caption-to-all").addEventListener("click", captionToAll);
  $("guidance").addEventListener("change", guided);
  for (const id of ["brightness", "contrast"]) $(id).addEventListener("input", () => { $(id + "-value").textContent = $(id).value; });
  $("steer").addEventListener("click", steer);
  $("retrieve").addEventListener("click", retrieve);
  installBoxDrag();
  installRepaint();
  await loadScene();
  document.body.dataset.ready = "1";
}

main();
