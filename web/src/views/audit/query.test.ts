import { describe, expect, it } from "vitest";
import {
  AUDIT_PAGE_SIZE,
  auditQuery,
  localInputToMs,
  mayHaveOlder,
  msToLocalInput,
  parseMs,
  statusKind,
  truncate,
} from "./query";

const none = { user: "", action: "", since: "", until: "" };

describe("datetime-local conversion", () => {
  it("reads a local date and time as ms", () => {
    expect(localInputToMs("2024-05-01T10:30")).toBe(new Date(2024, 4, 1, 10, 30).getTime());
    expect(localInputToMs("2024-05-01T10:30:15")).toBe(new Date(2024, 4, 1, 10, 30, 15).getTime());
    expect(localInputToMs("2024-05-01T10:30:15.5")).toBe(new Date(2024, 4, 1, 10, 30, 15, 500).getTime());
  });

  it("refuses empty, malformed and impossible values", () => {
    for (const bad of ["", "  ", "2024-05-01", "10:30", "2024-13-01T00:00", "2024-02-30T00:00", "2024-05-01T24:00", "x"]) {
      expect(localInputToMs(bad), bad).toBeUndefined();
    }
  });

  it("writes ms back as an input value, seconds only when there are some", () => {
    expect(msToLocalInput(new Date(2024, 4, 1, 9, 5).getTime())).toBe("2024-05-01T09:05");
    expect(msToLocalInput(new Date(2024, 11, 31, 23, 59, 7).getTime())).toBe("2024-12-31T23:59:07");
    expect(msToLocalInput(undefined)).toBe("");
    expect(msToLocalInput(NaN)).toBe("");
  });

  it("round-trips", () => {
    for (const value of ["2024-01-01T00:00", "2030-06-15T12:34:56"]) {
      expect(msToLocalInput(localInputToMs(value))).toBe(value);
    }
  });
});

describe("parseMs", () => {
  it("takes whole numbers only", () => {
    expect(parseMs("1714557000000")).toBe(1714557000000);
    expect(parseMs("0")).toBe(0);
    expect(parseMs("")).toBeUndefined();
    expect(parseMs("1.5")).toBeUndefined();
    expect(parseMs("yesterday")).toBeUndefined();
    expect(parseMs("99999999999999999999")).toBeUndefined();
  });
});

describe("auditQuery", () => {
  it("asks for a page of everything without filters", () => {
    expect(auditQuery(none)).toEqual({ limit: AUDIT_PAGE_SIZE });
  });

  it("carries the filters, trimmed, and the entry to page back from", () => {
    expect(
      auditQuery({ user: " ada ", action: "auth.", since: "1000", until: "2000" }, 42),
    ).toEqual({ user: "ada", action: "auth.", since: 1000, until: 2000, before: 42, limit: 100 });
  });

  it("keeps an action prefix's trailing space and drops unreadable times", () => {
    expect(auditQuery({ ...none, action: "  POST ", since: "soon", until: "" }, undefined, 10)).toEqual({
      action: "POST ",
      limit: 10,
    });
  });
});

describe("display", () => {
  it("marks refused and failed requests", () => {
    expect(statusKind(200)).toBe("ok");
    expect(statusKind(302)).toBe("ok");
    expect(statusKind(401)).toBe("client-error");
    expect(statusKind(403)).toBe("client-error");
    expect(statusKind(500)).toBe("server-error");
    expect(statusKind(0)).toBe("other");
  });

  it("truncates long text with an ellipsis", () => {
    expect(truncate("short", 10)).toBe("short");
    expect(truncate("0123456789", 10)).toBe("0123456789");
    expect(truncate("0123456789abc", 10)).toBe("012345678…");
  });

  it("offers older entries after a full page only", () => {
    expect(mayHaveOlder(100)).toBe(true);
    expect(mayHaveOlder(99)).toBe(false);
    expect(mayHaveOlder(0)).toBe(false);
  });
});
