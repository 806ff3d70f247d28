import { describe, expect, it } from "vitest";
import { csvHeader, guessTarget } from "./csv";

describe("csv header", () => {
  it("reads quoted names and stops at the first line", () => {
    expect(csvHeader('Name,"Phone, mobile",Email\r\nAnn,1,a@b')).toEqual(["Name", "Phone, mobile", "Email"]);
    expect(csvHeader('ФИО;Телефон\nИван;+7')).toEqual(["ФИО", "Телефон"]);
  });

  it("guesses what columns hold", () => {
    expect(["Name", "Телефон", "E-mail", "Tags", "City"].map(guessTarget)).toEqual(["name", "phone", "email", "tag", "skip"]);
  });
});
