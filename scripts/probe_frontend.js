// Record, from ComfyUI's REAL web frontend, the widgets each node type gets and the order in which the
// editor saves them (widgets_values) -- the table tests/fixtures/frontend_widgets.json that the pack's
// UI->API conversion (headless/ui_format.py) follows, and the size the frontend computes for each node
// (scripts/make_workflows.py lays the templates out with it).
// usage: PW_DIR=<dir with node_modules/playwright-core> node scripts/probe_frontend.js PORT [TYPE ...]
//        > tests/fixtures/frontend_widgets.json
// Without TYPE arguments: every node type the pack registers plus the built-ins its workflows use.
// Needs a running ComfyUI (see ../shared/tools/comfyui-rig/README.md) and /usr/bin/chromium.
const { chromium } = require(process.env.PW_DIR + '/node_modules/playwright-core');
const BUILTINS = ['LoadImage', 'LoadImageMask', 'SaveImage', 'PreviewImage', 'ImageToMask', 'MaskToImage', 'Note', 'MarkdownNote'];
(async () => {
  const [port, ...wanted] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox',
    '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => window.app && window.app.graph && window.LiteGraph, null, { timeout: 90000 });
  const res = await page.evaluate(async ([wanted, builtins]) => {
    const info = await (await fetch('/object_info')).json();
    const version = await (await fetch('/system_stats')).json();
    const types = wanted.length ? wanted : Object.keys(info).filter(k => k.startsWith('GLE')).concat(builtins);
    const nodes = {};
    for (const t of types.sort()) {
      const n = window.LiteGraph.createNode(t);
      if (!n) { nodes[t] = null; continue; }
      window.app.graph.add(n);
      const saved = n.serialize();
      // one entry per saved value: the widget's name and whether graphToPrompt sends it
      const ws = (n.widgets || []).filter(w => w.serialize !== false);
      nodes[t] = {
        widgets: (n.widgets || []).map(w => w.name),
        widgets_values: ws.map(w => ({ name: w.name, sent: !(w.options && w.options.serialize === false) })),
        saved_count: (saved.widgets_values || []).length,
        size: n.computeSize ? Array.from(n.computeSize()).map(Math.ceil) : Array.from(n.size),
      };
      window.app.graph.remove(n);
    }
    return { comfyui: version.system && version.system.comfyui_version, nodes };
  }, [wanted, BUILTINS]);
  const frontend = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__ || null);
  console.log(JSON.stringify({ source: 'scripts/probe_frontend.js against the real ComfyUI frontend',
    comfyui_version: res.comfyui, frontend_version: frontend, nodes: res.nodes }, null, 2));
  await browser.close();
})().catch(e => { console.error('probe crashed: ' + String(e)); process.exit(1); });
