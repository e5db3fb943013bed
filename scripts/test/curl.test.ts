import { describe, expect, it } from "vitest";
import { codeBlocks, commandLines, markdownSection, parseCurl, shellWords } from "./curl.js";

describe("shellWords", () => {
  it("reads single quotes literally, double quotes with their escapes, and backslashes", () => {
    expect(shellWords(`curl 'a $b "c"' "d \\"e\\"" f\\ g`)).toEqual(["curl", 'a $b "c"', 'd "e"', "f g"]);
  });

  it("refuses what a shell would expand or interpret", () => {
    expect(() => shellWords("curl $URL")).toThrow(/outside quotes/);
    expect(() => shellWords('curl "$URL"')).toThrow(/expansion/);
    expect(() => shellWords("curl a | jq")).toThrow(/outside quotes/);
    expect(() => shellWords("curl 'open")).toThrow(/unterminated/);
  });
});

describe("commandLines", () => {
  it("joins continuations and skips blank lines and comments", () => {
    expect(commandLines("# try\ncurl a \\\n     -H 'x: y'\n\ncurl b\n", { strict: true })).toEqual([
      "curl a -H 'x: y'",
      "curl b",
    ]);
  });

  it("refuses another command when strict, and reads around prose when not", () => {
    expect(() => commandLines("curl a\nwget b\n", { strict: true })).toThrow(/not a curl command: wget b/);
    expect(commandLines("Try:\n  curl a\nThe image comes through.\n", { strict: false })).toEqual(["curl a"]);
  });
});

describe("parseCurl", () => {
  it("sends -d as a form POST, as curl does, unless -X or a content type says otherwise", () => {
    expect(parseCurl("curl -X POST http://h/t -d 'a=1&b=2'")).toMatchObject({
      method: "POST",
      url: "http://h/t",
      body: "a=1&b=2",
      headers: expect.arrayContaining([["content-type", "application/x-www-form-urlencoded"]]),
    });
    const json = parseCurl(
      `curl -i http://h/s -H 'content-type: application/json' -H 'Idempotency-Key: k' -d '{"a":1}'`,
    );
    expect(json.method).toBe("POST");
    expect(json.headers.filter(([name]) => name === "content-type")).toEqual([
      ["content-type", "application/json"],
    ]);
    expect(json.headers).toContainEqual(["idempotency-key", "k"]);
    expect(parseCurl("curl -X PUT http://h/x -d a").method).toBe("PUT");
  });

  it("takes a GET with output options as the same request", () => {
    expect(parseCurl("curl -s -o photo.jpg -D - 'http://h/i?u=a&w=3'")).toMatchObject({
      method: "GET",
      url: "http://h/i?u=a&w=3",
    });
  });

  it("refuses options it does not understand, files as data, and a missing URL", () => {
    expect(() => parseCurl("curl --compressed http://h")).toThrow(/--compressed/);
    expect(() => parseCurl("curl -d @body.json http://h")).toThrow(/@file/);
    expect(() => parseCurl("curl -i")).toThrow(/no URL/);
  });
});

describe("markdownSection and codeBlocks", () => {
  const markdown =
    "# T\n## A\n```sh\na\n```\n## Sandbox\ntext\n```sh\nb\nc\n```\n```js\nd\n```\n### Sub\n```sh\ne\n```\n## Next\n```sh\nf\n```\n";

  it("finds a section up to the next heading of its level, subsections included", () => {
    expect(codeBlocks(markdownSection(markdown, "## Sandbox"), "sh")).toEqual(["b\nc", "e"]);
    expect(() => markdownSection(markdown, "## Missing")).toThrow(/no "## Missing"/);
  });
});
