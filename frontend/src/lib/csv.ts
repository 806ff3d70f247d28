/** The header row of a CSV file (quoted fields, doubled quotes, comma or semicolon). */
export function csvHeader(text: string): string[] {
  const firstLine: string[] = [];
  let field = "";
  let quoted = false;
  const delimiter = guessDelimiter(text);
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      firstLine.push(field.trim());
      field = "";
    } else if (ch === "\n" || ch === "\r") break;
    else field += ch;
  }
  firstLine.push(field.trim());
  return firstLine.filter((h, i) => h !== "" || i < firstLine.length - 1);
}

function guessDelimiter(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? "";
  return (line.match(/;/g)?.length ?? 0) > (line.match(/,/g)?.length ?? 0) ? ";" : ",";
}

/** A first guess at what each column holds, from its name in English, Russian or Uzbek. */
export function guessTarget(column: string): string {
  const c = column.toLowerCase();
  if (/phone|tel|телефон|номер|raqam/.test(c)) return "phone";
  if (/mail|почта/.test(c)) return "email";
  if (/tag|тег|метк|teg/.test(c)) return "tag";
  if (/name|имя|фио|клиент|ism|mijoz/.test(c)) return "name";
  return "skip";
}
