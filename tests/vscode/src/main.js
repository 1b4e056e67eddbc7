// Renders Jupyter widgets the way VS Code's notebook webview does: VS Code's own
// renderer bundle (@vscode/jupyter-ipywidgets8) + requirejs, driven by a real kernel
// connection from @jupyterlab/services instead of VS Code's postMessage kernel proxy.
import { activate } from '@vscode/jupyter-ipywidgets8';
import { KernelManager, ServerConnection } from '@jupyterlab/services';

const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';
const log = (window.harnessLog = []);
const errors = (window.harnessErrors = []);
const logger = (msg) => log.push(String(msg));
window.addEventListener('error', (e) => errors.push(`error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => errors.push(`unhandledrejection: ${e.reason}`));

// Same shape as VS Code's ScriptManager.getScriptLoader(): VS Code's extension host finds a
// third-party widget's AMD build in <env>/share/jupyter/nbextensions/<module>/index.js and
// registers it in requirejs under the module's name (requirejsRegistry.registerScripts).
const widgetsRegisteredInRequireJs = new Set();
const scriptLoader = {
  widgetsRegisteredInRequireJs,
  async loadWidgetScript(moduleName, moduleVersion) {
    logger(`loadWidgetScript ${moduleName}@${moduleVersion}`);
    const url = new URL(`nbextensions/${moduleName}/index`, location.href).href;
    window.requirejs.config({ paths: { [moduleName]: url } });
    widgetsRegisteredInRequireJs.add(moduleName);
  },
  successHandler: (className, moduleName, moduleVersion) =>
    logger(`loaded ${className} from ${moduleName}@${moduleVersion}`),
  errorHandler: (className, moduleName, moduleVersion, error) =>
    errors.push(`widget load failed ${className} ${moduleName}@${moduleVersion}: ${error}`),
};

async function main() {
  activate(); // sets window.vscIPyWidgets8
  window.vscIPyWidgets8.load(); // AMD-defines @jupyter-widgets/*, sets window.vscIPyWidgets

  const serverSettings = ServerConnection.makeSettings({ baseUrl: new URL('/', location.href).href });
  const kernels = new KernelManager({ serverSettings });
  await kernels.ready;
  const kernel = await kernels.startNew({ name: 'python3' });
  window.harnessKernel = kernel;

  const root = document.getElementById('widgets');
  const manager = new window.vscIPyWidgets.WidgetManager(kernel, root, scriptLoader, logger, undefined);
  window.harnessManager = manager;

  // Same steps as VS Code's WidgetManager.renderWidget(): wait for the model, create a view, display it.
  async function renderWidget(data, el) {
    const model = await manager.get_model(data.model_id);
    const view = await manager.create_view(model, { el });
    return manager.display_view(data, view, { node: el });
  }

  // outputs by display id, for update_display_data; Markdown shown as its source text
  const displays = new Map();
  const shownText = (data) => data['text/markdown'] ?? data['text/plain'] ?? '';

  let cellCount = 0;
  window.runCell = (code) => {
    const cell = document.createElement('div');
    cell.className = 'cell-output';
    cell.dataset.cell = String(cellCount++);
    root.appendChild(cell);
    const renders = [];
    const future = kernel.requestExecute({ code, stop_on_error: true });
    future.onIOPub = (msg) => {
      const type = msg.header.msg_type;
      const content = msg.content;
      if ((type === 'display_data' || type === 'execute_result') && content.data[WIDGET_MIME]) {
        const el = document.createElement('div');
        el.className = 'widget-output';
        cell.appendChild(el);
        renders.push(renderWidget(content.data[WIDGET_MIME], el).catch((e) => {
          errors.push(`render failed: ${e?.stack || e}`);
        }));
      } else if (type === 'update_display_data') {
        // VS Code replaces every output shown under the display id (IPython's display handles)
        for (const pre of displays.get(content.transient?.display_id) ?? []) {
          pre.textContent = shownText(content.data);
        }
      } else if (type === 'stream' || type === 'error' || type === 'display_data' || type === 'execute_result') {
        const pre = document.createElement('pre');
        pre.className = `text-output ${type}`;
        pre.textContent =
          type === 'stream' ? content.text
          : type === 'error' ? `${content.ename}: ${content.evalue}`
          : shownText(content.data);
        const id = content.transient?.display_id;
        if (id) displays.set(id, [...(displays.get(id) ?? []), pre]);
        cell.appendChild(pre);
      }
    };
    return future.done.then(async (reply) => {
      await Promise.all(renders);
      return { cell: cellCount - 1, status: reply.content.status, ename: reply.content.ename, evalue: reply.content.evalue };
    });
  };
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  errors.push(`startup failed: ${e?.stack || e}`);
  document.body.dataset.ready = 'error';
});
