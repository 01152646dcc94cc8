// Tests of saved views (with an in-memory Storage).
import { describe, expect, it } from "vitest";
import { applyView, deleteView, loadViews, pickView, saveView } from "./saved";

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, v),
  };
}

describe("saved views", () => {
  it("saves, replaces, lists and deletes per experiment", () => {
    const s = memoryStorage();
    saveView(s, "1", { name: "b", state: { filter: "metrics.loss < 1" } });
    saveView(s, "1", { name: "a", state: {} });
    saveView(s, "1", { name: "b", state: { filter: "metrics.loss < 2" } });
    saveView(s, "2", { name: "other", state: {} });
    expect(loadViews(s, "1")).toEqual([
      { name: "a", state: {} },
      { name: "b", state: { filter: "metrics.loss < 2" } },
    ]);
    expect(deleteView(s, "1", "a").map((v) => v.name)).toEqual(["b"]);
    expect(loadViews(s, "2").length).toBe(1);
  });

  it("survives garbage in storage", () => {
    const s = memoryStorage();
    s.setItem("cairn.runs.views.1", "{not json");
    expect(loadViews(s, "1")).toEqual([]);
    s.setItem("cairn.runs.views.1", JSON.stringify([{ name: 3 }, { name: "ok", state: {} }]));
    expect(loadViews(s, "1")).toEqual([{ name: "ok", state: {} }]);
  });

  it("picks and applies the view parameters of a URL", () => {
    const search = new URLSearchParams("filter=x&sort=metrics.loss%3Aasc&sel=a,b&other=1");
    expect(pickView(search)).toEqual({ filter: "x", sort: "metrics.loss:asc" });
    const next = applyView(search, { cols: "attributes.run_name" });
    expect(next.toString()).toBe("sel=a%2Cb&other=1&cols=attributes.run_name");
  });
});
