/**
 * The `curl` command lines of the README and of the sandbox's output, read as a POSIX shell and curl
 * would read them, and turned into the same HTTP request for `fetch`. Only what those lines use is
 * understood; anything else (another command, an option not listed here, a `$` the shell would
 * expand) is an error, so a README that changes its commands cannot pass by being misread.
 */

/** One request, as curl would send it. */
export interface CurlRequest {
  /** The command as written (continuations joined), for messages. */
  readonly line: string;
  readonly method: string;
  readonly url: string;
  /** In the order given; curl's own `Accept` and `User-Agent` first. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: string;
}

/** Splits one command line into words: single quotes, double quotes, backslash escapes. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let i = 0;
  const append = (text: string) => {
    word = (word ?? "") + text;
  };
  while (i < line.length) {
    const char = line[i] as string;
    if (char === " " || char === "\t") {
      if (word !== null) {
        words.push(word);
        word = null;
      }
      i++;
    } else if (char === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) {
        throw new Error(`unterminated single quote in: ${line}`);
      }
      append(line.slice(i + 1, end));
      i = end + 1;
    } else if (char === '"') {
      let text = "";
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) {
          text += line[i + 1];
          i += 2;
        } else if (line[i] === "$" || line[i] === "`") {
          throw new Error(`shell expansion is not supported: ${line}`);
        } else {
          text += line[i];
          i++;
        }
      }
      if (i >= line.length) {
        throw new Error(`unterminated double quote in: ${line}`);
      }
      append(text);
      i++;
    } else if (char === "\\") {
      append(line[i + 1] ?? "");
      i += 2;
    } else if ("$`;|&<>(){}*?#~".includes(char) && !(char === "#" && word !== null)) {
      throw new Error(`"${char}" outside quotes is not supported: ${line}`);
    } else {
      append(char);
      i++;
    }
  }
  if (word !== null) {
    words.push(word);
  }
  return words;
}

/**
 * The command lines of a shell snippet, continuations (`\` at the end of a line) joined. Strict: every
 * line that is not blank or a comment must be a curl command. Lenient (program output): lines that
 * start with `curl ` begin a command, other lines are prose.
 */
export function commandLines(text: string, options: { strict: boolean }): string[] {
  const commands: string[] = [];
  let current: string | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (current !== null) {
      current += ` ${line.replace(/\\$/, "").trim()}`;
    } else if (line.startsWith("curl ")) {
      current = line.replace(/\\$/, "").trim();
    } else if (options.strict && line !== "" && !line.startsWith("#")) {
      throw new Error(`not a curl command: ${line}`);
    } else {
      continue;
    }
    if (!line.endsWith("\\")) {
      commands.push(current);
      current = null;
    }
  }
  if (current !== null) {
    throw new Error(`a continuation without a next line: ${current}`);
  }
  return commands;
}

const FLAGS_WITH_VALUE = new Set([
  "-X",
  "--request",
  "-H",
  "--header",
  "-d",
  "--data",
  "--data-raw",
  "-o",
  "--output",
  "-D",
  "--dump-header",
]);
const FLAGS = new Set(["-i", "--include", "-s", "--silent", "-S", "--show-error", "-sS"]);

/** The request curl sends for `line`. */
export function parseCurl(line: string): CurlRequest {
  const words = shellWords(line);
  if (words[0] !== "curl") {
    throw new Error(`not a curl command: ${line}`);
  }
  let method: string | undefined;
  let url: string | undefined;
  const headers: [string, string][] = [
    ["accept", "*/*"],
    ["user-agent", "curl/8"],
  ];
  const data: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const word = words[i] as string;
    if (FLAGS.has(word)) {
      continue; // output options: the request is the same
    }
    if (FLAGS_WITH_VALUE.has(word)) {
      const value = words[++i];
      if (value === undefined) {
        throw new Error(`${word} needs a value: ${line}`);
      }
      if (word === "-X" || word === "--request") {
        method = value;
      } else if (word === "-H" || word === "--header") {
        const colon = value.indexOf(":");
        if (colon <= 0) {
          throw new Error(`not a header: ${value}`);
        }
        headers.push([value.slice(0, colon).trim().toLowerCase(), value.slice(colon + 1).trim()]);
      } else if (word === "-d" || word === "--data" || word === "--data-raw") {
        if (word !== "--data-raw" && value.startsWith("@")) {
          throw new Error(`-d @file is not supported: ${line}`);
        }
        data.push(value);
      }
      continue;
    }
    if (word.startsWith("-")) {
      throw new Error(`curl option ${word} is not understood here: ${line}`);
    }
    if (url !== undefined) {
      throw new Error(`more than one URL: ${line}`);
    }
    url = word;
  }
  if (url === undefined) {
    throw new Error(`no URL: ${line}`);
  }
  if (data.length > 0 && !headers.some(([name]) => name === "content-type")) {
    // curl's default for -d.
    headers.push(["content-type", "application/x-www-form-urlencoded"]);
  }
  return {
    line,
    method: method ?? (data.length > 0 ? "POST" : "GET"),
    url,
    headers,
    ...(data.length > 0 ? { body: data.join("&") } : {}),
  };
}

/** The section of a Markdown document under `heading` (up to the next heading of its level or above). */
export function markdownSection(markdown: string, heading: string): string {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start === -1) {
    throw new Error(`no "${heading}" heading`);
  }
  const level = (/^#+/.exec(heading) as RegExpExecArray)[0].length;
  const end = lines.findIndex(
    (line, index) =>
      index > start && /^#+ /.test(line) && (/^#+/.exec(line) as RegExpExecArray)[0].length <= level,
  );
  return lines.slice(start + 1, end === -1 ? undefined : end).join("\n");
}

/** The contents of the fenced code blocks of `language` in `markdown`. */
export function codeBlocks(markdown: string, language: string): string[] {
  const blocks: string[] = [];
  let current: string[] | null = null;
  for (const line of markdown.split("\n")) {
    if (current === null && line.trim() === `\`\`\`${language}`) {
      current = [];
    } else if (current !== null && line.trim() === "```") {
      blocks.push(current.join("\n"));
      current = null;
    } else if (current !== null) {
      current.push(line);
    }
  }
  return blocks;
}
