import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { scheduleRefresh } from "./api/session";
import { BrowserRouter } from "react-router";
import { App } from "./App";
import { LocaleProvider } from "./i18n";
import "./styles.css";

scheduleRefresh();
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <LocaleProvider>
        <App />
      </LocaleProvider>
    </BrowserRouter>
  </StrictMode>,
);
