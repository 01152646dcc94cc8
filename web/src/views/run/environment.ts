// The run environment recorded by the Cairn SDK (the `environment.json` artifact, layout in
// sdk/python/src/cairn/environment.py) and the reproduce recipe built from it: shell commands
// that check out the run's code (commit plus its uncommitted diff), recreate the Python
// environment with the exact package versions, and run the same command.

export type EnvDoc = {
  version?: number;
  captured_at?: string;
  git?: {
    root?: string;
    commit?: string;
    branch?: string;
    remote_name?: string;
    remote?: string;
    dirty?: boolean;
    script?: string;
    diff_bytes?: number;
    diff_truncated?: boolean;
    untracked?: string[];
    untracked_count?: number;
    untracked_truncated?: boolean;
  };
  python?: {
    version?: string;
    implementation?: string;
    executable?: string;
    prefix?: string;
    base_prefix?: string;
    virtualenv?: boolean;
    build?: string;
  };
  host?: {
    hostname?: string;
    user?: string;
    platform?: string;
    system?: string;
    release?: string;
    machine?: string;
    cpu_model?: string;
    cpu_count?: number;
    memory_total_bytes?: number;
  };
  gpus?: { index?: number; name?: string; memory_total_bytes?: number; driver_version?: string }[];
  command?: { line?: string; argv?: string[]; script?: string };
  cwd?: string;
  distributions?: Record<string, string>;
  environment?: Record<string, string>;
};

/** The document in an environment.json text, or an error saying why it is not one. */
export function parseEnvironment(text: string): EnvDoc | Error {
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) return new Error("environment.json is not an object");
    return value as EnvDoc;
  } catch (e) {
    return new Error("environment.json is not valid JSON: " + (e instanceof Error ? e.message : String(e)));
  }
}

/** A word for a POSIX shell: as is when safe, else single-quoted. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_\-.,:/=@%+]+$/.test(word)) return word;
  return "'" + word.replace(/'/g, "'\\''") + "'";
}

/** `a/b` relative to `base` when inside it (POSIX paths), else null. */
export function relativeTo(path: string, base: string): string | null {
  const b = base.replace(/\/+$/, "");
  if (path === b) return ".";
  return path.startsWith(b + "/") ? path.slice(b.length + 1) : null;
}

/** The folder `git clone` makes for a remote URL. */
export function cloneDir(remote: string): string {
  const name = remote.replace(/\/+$/, "").split(/[/:]/).pop() ?? "repo";
  return name.replace(/\.git$/, "") || "repo";
}

/** `python3.11` for version 3.11.7; `python3` when unknown. */
export function pythonCommand(version: string | undefined): string {
  const m = /^(\d+)\.(\d+)/.exec(version ?? "");
  return m ? `python${m[1]}.${m[2]}` : "python3";
}

/** Packages a fresh virtualenv brings itself, left out of the pinned list. */
const BOOTSTRAP = new Set(["pip"]);

/** `name==version` lines, sorted by name (case-insensitive). */
export function pinnedRequirements(distributions: Record<string, string>): string[] {
  return Object.entries(distributions)
    .filter(([name]) => !BOOTSTRAP.has(name.toLowerCase()))
    .sort(([a], [b]) => a.toLowerCase().localeCompare(b.toLowerCase()))
    .map(([name, version]) => `${name}==${version}`);
}

export type RecipeInput = {
  runId: string;
  runName: string;
  doc: EnvDoc | null;
  tags: Record<string, string>;
  /** Absolute URL of the run's recorded diff (`git/diff.patch`), when it has one. */
  diffUrl: string | null;
};

/** Shell commands that reproduce the run's code, environment and command. */
export function reproduceRecipe(input: RecipeInput): string {
  const { doc, tags } = input;
  const git = doc?.git;
  const commit = git?.commit ?? tags["mlflow.source.git.commit"] ?? tags["cairn.git.commit"];
  const remote = git?.remote ?? tags["mlflow.source.git.repoURL"] ?? tags["cairn.git.remote"];
  const lines: string[] = [`# Reproduce run ${input.runName} (${input.runId})`];

  lines.push("", "# 1. The code");
  if (remote) {
    const dir = cloneDir(remote);
    lines.push(`git clone ${shellQuote(remote)} ${shellQuote(dir)}`, `cd ${shellQuote(dir)}`);
  } else if (git?.root) {
    lines.push("# No git remote was recorded: start from a copy of the repository.", `cd ${shellQuote(git.root)}`);
  } else {
    lines.push("# No git repository was recorded for this run.");
  }
  if (commit) lines.push(`git checkout ${shellQuote(commit)}`);
  if (input.diffUrl) {
    lines.push("# The uncommitted changes the run had:");
    if (git?.diff_truncated) lines.push("# (the recorded diff was cut at the SDK's size limit and may not apply)");
    lines.push(`curl -fsSL ${shellQuote(input.diffUrl)} | git apply`);
  }
  if (git?.untracked_count) {
    const shown = (git.untracked ?? []).filter((f) => !f.startsWith(".cairn/")).slice(0, 10);
    if (shown.length) lines.push(`# Untracked files the run had (not recorded): ${shown.join(", ")}`);
  }

  lines.push("", "# 2. The Python environment");
  const python = pythonCommand(doc?.python?.version ?? /\d+\.\d+\S*/.exec(tags["cairn.python"] ?? "")?.[0]);
  lines.push(`${python} -m venv .venv`, ". .venv/bin/activate");
  const pins = pinnedRequirements(doc?.distributions ?? {});
  if (pins.length) {
    lines.push("cat > requirements.lock.txt <<'EOF'", ...pins, "EOF", "pip install -r requirements.lock.txt");
  } else {
    lines.push("# The installed packages were not recorded.");
  }

  lines.push("", "# 3. The command");
  const cwd = doc?.cwd ?? tags["cairn.cwd"];
  const root = git?.root;
  if (cwd) {
    const inRepo = root ? relativeTo(cwd, root) : null;
    if (inRepo && inRepo !== ".") lines.push(`cd ${shellQuote(inRepo)}`);
    else if (!inRepo) lines.push(`cd ${shellQuote(cwd)}`);
  }
  lines.push(commandLine(doc, tags, cwd));
  return lines.join("\n") + "\n";
}

/** Whether a recipe says anything: an environment document, or tags naming source or command. */
export function hasRecipe(doc: EnvDoc | null, tags: Record<string, string>): boolean {
  if (doc) return true;
  const keys = ["mlflow.source.git.commit", "cairn.git.commit", "cairn.command", "mlflow.source.name"];
  return keys.some((k) => !!tags[k]);
}

/** The command that started the run, as `python <script> <args>`. */
function commandLine(doc: EnvDoc | null, tags: Record<string, string>, cwd: string | undefined): string {
  const argv = doc?.command?.argv;
  if (argv && argv.length) {
    if (argv[0] === "-c") return "# The run was started with python -c; its code was not recorded.";
    const script = (cwd && relativeTo(argv[0], cwd)) || argv[0];
    return ["python", script, ...argv.slice(1)].map(shellQuote).join(" ");
  }
  const line = doc?.command?.line ?? tags["cairn.command"];
  if (line) return `python ${line}`;
  const source = tags["mlflow.source.name"];
  if (source && tags["mlflow.source.type"] !== "NOTEBOOK") return `python ${shellQuote(source)}  # its arguments were not recorded`;
  return "# The command line was not recorded.";
}
