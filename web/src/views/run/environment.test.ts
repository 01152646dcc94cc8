// Tests of environment.json parsing and the reproduce recipe.
import { describe, expect, it } from "vitest";
import {
  cloneDir,
  hasRecipe,
  parseEnvironment,
  pinnedRequirements,
  pythonCommand,
  relativeTo,
  reproduceRecipe,
  shellQuote,
  type EnvDoc,
} from "./environment";

const doc: EnvDoc = {
  git: {
    root: "/home/a/repo",
    commit: "7bdbe75",
    branch: "main",
    remote: "https://github.com/example/vision-models.git",
    dirty: true,
    untracked_count: 2,
    untracked: [".cairn/", "notes.txt"],
  },
  python: { version: "3.11.7", implementation: "CPython" },
  command: { argv: ["/home/a/repo/src/train.py", "--lr", "0.001", "--name", "it's a test"] },
  cwd: "/home/a/repo/src",
  distributions: { pip: "24.0", Numpy: "2.4.6", "torch": "2.5.1", attrs: "23.1" },
};

describe("helpers", () => {
  it("quotes shell words only when needed", () => {
    expect(shellQuote("--lr=0.1")).toBe("--lr=0.1");
    expect(shellQuote("it's a test")).toBe("'it'\\''s a test'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("$HOME")).toBe("'$HOME'");
  });

  it("makes paths relative", () => {
    expect(relativeTo("/a/b/c.py", "/a")).toBe("b/c.py");
    expect(relativeTo("/a", "/a/")).toBe(".");
    expect(relativeTo("/ab/c", "/a")).toBeNull();
  });

  it("names the clone folder and python", () => {
    expect(cloneDir("https://github.com/x/y.git")).toBe("y");
    expect(cloneDir("git@github.com:x/y.git")).toBe("y");
    expect(pythonCommand("3.11.7")).toBe("python3.11");
    expect(pythonCommand(undefined)).toBe("python3");
  });

  it("pins packages sorted, without pip", () => {
    expect(pinnedRequirements(doc.distributions!)).toEqual(["attrs==23.1", "Numpy==2.4.6", "torch==2.5.1"]);
  });

  it("parses environment.json or says why not", () => {
    expect(parseEnvironment('{"version":1}')).toEqual({ version: 1 });
    expect(parseEnvironment("[1]")).toBeInstanceOf(Error);
    expect(parseEnvironment("{")).toBeInstanceOf(Error);
  });
});

describe("reproduceRecipe", () => {
  it("clones, checks out, applies the diff, pins packages and runs the command", () => {
    const recipe = reproduceRecipe({
      runId: "r1",
      runName: "baseline",
      doc,
      tags: {},
      diffUrl: "http://host/api/v1/runs/r1/files/git/diff.patch",
    });
    expect(recipe).toContain("git clone https://github.com/example/vision-models.git vision-models\ncd vision-models\n");
    expect(recipe).toContain("git checkout 7bdbe75\n");
    expect(recipe).toContain("curl -fsSL http://host/api/v1/runs/r1/files/git/diff.patch | git apply\n");
    expect(recipe).toContain("(not recorded): notes.txt\n");
    expect(recipe).toContain("python3.11 -m venv .venv\n. .venv/bin/activate\n");
    expect(recipe).toContain("cat > requirements.lock.txt <<'EOF'\nattrs==23.1\nNumpy==2.4.6\ntorch==2.5.1\nEOF\n");
    expect(recipe).toContain("cd src\npython train.py --lr 0.001 --name 'it'\\''s a test'\n");
  });

  it("falls back on tags without environment.json", () => {
    const recipe = reproduceRecipe({
      runId: "r2",
      runName: "n",
      doc: null,
      tags: {
        "mlflow.source.git.commit": "abc",
        "mlflow.source.git.repoURL": "git@github.com:x/y.git",
        "cairn.python": "CPython 3.10.2",
        "cairn.command": "train.py --x 1",
      },
      diffUrl: null,
    });
    expect(recipe).toContain("git clone git@github.com:x/y.git y\n");
    expect(recipe).toContain("git checkout abc\n");
    expect(recipe).not.toContain("git apply");
    expect(recipe).toContain("python3.10 -m venv .venv");
    expect(recipe).toContain("# The installed packages were not recorded.");
    expect(recipe).toContain("python train.py --x 1\n");
  });

  it("says when there is no repository", () => {
    const recipe = reproduceRecipe({ runId: "r", runName: "n", doc: { command: { argv: ["-c"] } }, tags: {}, diffUrl: null });
    expect(recipe).toContain("# No git repository was recorded for this run.");
    expect(recipe).toContain("its code was not recorded");
  });
});

describe("hasRecipe", () => {
  it("needs a document or tags about source or command", () => {
    expect(hasRecipe({}, {})).toBe(true);
    expect(hasRecipe(null, { team: "a" })).toBe(false);
    expect(hasRecipe(null, { "mlflow.source.name": "train.py" })).toBe(true);
  });

  it("falls back on the source name for the command", () => {
    const recipe = reproduceRecipe({ runId: "r", runName: "n", doc: null, tags: { "mlflow.source.name": "train.py" }, diffUrl: null });
    expect(recipe).toContain("python train.py  # its arguments were not recorded\n");
  });
});
