/**
 * Prints the folder-level import graph of `src/` and checks it against the documented layering
 * (DESIGN.md, "The core, second edition"): exits non-zero on a cycle between folders or on an
 * import that goes up a layer. Type-only imports count: a type cycle is still a cycle.
 *
 * Run: `node --import tsx scripts/import-graph.ts [--json]`
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Layers, bottom to top; a folder may import its own layer's folders (cycles aside) and anything
 * below. `hash` sits at the bottom (it imports nothing) because blob verification hashes.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["errors", "bytes", "temp", "hash"],
  ["blob"],
  ["oci", "reference", "compress"],
  ["layer", "image"],
  ["registry", "transports"],
  ["run", "git", "dockerfile", "supply"],
  ["cache", "pipeline", "presets", "s2i"],
  ["index"],
  ["cli"],
];

/**
 * Imports a folder must not make at all (bare specifiers included): the Dockerfile interpreter
 * never spawns a process itself (RUN's executor and ADD's git fetch are injected).
 */
const FORBIDDEN: Readonly<Record<string, readonly RegExp[]>> = {
  dockerfile: [/^(node:)?child_process$/, /\/run\/linux\.ts$/, /\/git\//],
};

/** Folders whose rule breaks are reported as warnings only (being reworked elsewhere). */
const WARN_ONLY = new Set<string>();

/** The folder-level module a file of `src/` belongs to: its first path segment, without `.ts`. */
export function moduleOf(srcRelative: string): string {
  const first = srcRelative.split(/[\\/]/)[0] ?? srcRelative;
  return first.replace(/\.ts$/, "");
}

/** Every import specifier of a TypeScript source text (static, type-only, re-exports, dynamic). */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;"'`]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) specs.push(m[1]!);
  return specs;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** One folder-level edge with the files that make it. */
export interface Edge {
  from: string;
  to: string;
  files: string[];
}

/** The folder-level import graph of a `src/` directory. */
export function importGraph(srcDir: string, forbidden: string[] = []): Map<string, Map<string, Edge>> {
  const graph = new Map<string, Map<string, Edge>>();
  for (const file of listFiles(srcDir)) {
    const rel = relative(srcDir, file);
    const from = moduleOf(rel);
    if (!graph.has(from)) graph.set(from, new Map());
    for (const spec of importsOf(readFileSync(file, "utf8"))) {
      if (FORBIDDEN[from]?.some((pattern) => pattern.test(spec))) forbidden.push(`${from} must not import ${spec} (${rel})`);
      if (!spec.startsWith(".")) continue;
      const target = relative(srcDir, resolve(dirname(file), spec));
      if (target.startsWith("..")) continue;
      const to = moduleOf(target);
      if (to === from) continue;
      const edges = graph.get(from)!;
      const edge = edges.get(to) ?? { from, to, files: [] };
      const name = rel.split(sep).join("/");
      if (!edge.files.includes(name)) edge.files.push(name);
      edges.set(to, edge);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder: each is a cycle. */
export function findCycles(graph: Map<string, Map<string, Edge>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return components;
}

function layerOf(module: string): number {
  return LAYERS.findIndex((layer) => layer.includes(module));
}

/** Result of checking a graph: errors fail the check, warnings are printed only. */
export interface Check {
  cycles: string[][];
  errors: string[];
  warnings: string[];
}

/** Checks cycles, unknown folders, upward imports, and that `cli` imports only the public entry. */
export function checkGraph(graph: Map<string, Map<string, Edge>>, forbidden: string[] = []): Check {
  const cycles = findCycles(graph);
  const errors: string[] = [...forbidden];
  const warnings: string[] = [];
  for (const cycle of cycles) {
    const members = new Set(cycle);
    const detail = cycle
      .flatMap((m) => [...graph.get(m)!.values()].filter((e) => members.has(e.to)))
      .map((e) => `  ${e.from} -> ${e.to} (${e.files.join(", ")})`);
    errors.push(`cycle between ${cycle.join(", ")}:\n${detail.join("\n")}`);
  }
  for (const [from, edges] of graph) {
    const fromLayer = layerOf(from);
    if (fromLayer < 0) errors.push(`${from}: not in any layer (add it to LAYERS in scripts/import-graph.ts)`);
    for (const edge of edges.values()) {
      const toLayer = layerOf(edge.to);
      const upward = fromLayer >= 0 && toLayer > fromLayer;
      const cliRule = from === "cli" && edge.to !== "index";
      if (!upward && !cliRule) continue;
      const message = `${from} -> ${edge.to} ${cliRule ? "(cli must import only the public entry point)" : "goes up a layer"} (${edge.files.join(", ")})`;
      (WARN_ONLY.has(from) ? warnings : errors).push(message);
    }
  }
  return { cycles, errors, warnings };
}

function main(): void {
  const srcDir = fileURLToPath(new URL("../src", import.meta.url));
  const forbidden: string[] = [];
  const graph = importGraph(srcDir, forbidden);
  const check = checkGraph(graph, forbidden);
  if (process.argv.includes("--json")) {
    const edges = [...graph.values()].flatMap((m) => [...m.values()].map(({ from, to }) => ({ from, to })));
    process.stdout.write(JSON.stringify({ edges, ...check }, null, 2) + "\n");
  } else {
    for (const layer of [...LAYERS].reverse()) {
      for (const module of layer) {
        const edges = graph.get(module);
        if (!edges) continue;
        process.stdout.write(`${module} -> ${[...edges.keys()].sort().join(", ") || "(nothing)"}\n`);
      }
    }
    for (const warning of check.warnings) process.stderr.write(`warning: ${warning}\n`);
    for (const error of check.errors) process.stderr.write(`error: ${error}\n`);
  }
  if (check.errors.length > 0) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
