import { useState, type FormEvent, type ReactNode } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useMutation } from "../api/hooks";
import { setSession } from "../api/session";
import { LanguageSwitch } from "../components/Layout";
import { ErrorBox } from "../components/States";
import { graphql } from "../gql";
import { useI18n } from "../i18n";

const LoginDoc = graphql(`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) { accessToken accessTokenExpiresAt refreshToken userId companyId }
  }
`);
const SignUpDoc = graphql(`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) { accessToken accessTokenExpiresAt refreshToken userId companyId }
  }
`);
const AcceptDoc = graphql(`
  mutation AcceptInvite($token: String!, $password: String!) {
    acceptInvite(inviteToken: $token, password: $password) { accessToken accessTokenExpiresAt refreshToken userId companyId }
  }
`);

export const COUNTRIES = ["UZ", "KZ", "KG", "TJ", "RU", "TR", "AE", "US", "GB", "DE"];

function AuthFrame({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="auth">
      <div className="auth-box">
        <div className="auth-head">
          <h1>{title}</h1>
          <LanguageSwitch />
        </div>
        {children}
      </div>
    </div>
  );
}

export function Login() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const login = useMutation(LoginDoc);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const data = await login.run({ email, password });
    if (data) {
      setSession(data.login);
      navigate("/");
    }
  };
  return (
    <AuthFrame title={t("auth.login")}>
      <form onSubmit={submit} className="form">
        <label>
          {t("auth.email")}
          <input type="email" required autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          {t("auth.password")}
          <input
            type="password"
            required
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <ErrorBox error={login.error} />
        <button type="submit" disabled={login.pending}>
          {t("auth.login")}
        </button>
      </form>
      <p>
        {t("auth.noAccount")} <Link to="/signup">{t("auth.signUp")}</Link>
      </p>
    </AuthFrame>
  );
}

export function SignUp() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const signUp = useMutation(SignUpDoc);
  const [form, setForm] = useState({
    company: "",
    name: "",
    email: "",
    password: "",
    defaultCountry: "UZ",
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  });
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [key]: e.target.value });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const data = await signUp.run({ input: form });
    if (data) {
      setSession(data.signUp);
      navigate("/");
    }
  };
  return (
    <AuthFrame title={t("auth.signUp")}>
      <form onSubmit={submit} className="form">
        <label>
          {t("auth.company")}
          <input required value={form.company} onChange={set("company")} />
        </label>
        <label>
          {t("auth.name")}
          <input required autoComplete="name" value={form.name} onChange={set("name")} />
        </label>
        <label>
          {t("auth.email")}
          <input type="email" required autoComplete="username" value={form.email} onChange={set("email")} />
        </label>
        <label>
          {t("auth.password")}
          <input
            type="password"
            required
            minLength={10}
            autoComplete="new-password"
            value={form.password}
            onChange={set("password")}
          />
        </label>
        <label>
          {t("auth.country")}
          <select value={form.defaultCountry} onChange={set("defaultCountry")}>
            {COUNTRIES.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          {t("auth.timeZone")}
          <input required value={form.timeZone} onChange={set("timeZone")} />
        </label>
        <ErrorBox error={signUp.error} />
        <button type="submit" disabled={signUp.pending}>
          {t("auth.signUp")}
        </button>
      </form>
      <p>
        {t("auth.haveAccount")} <Link to="/login">{t("auth.login")}</Link>
      </p>
    </AuthFrame>
  );
}

export function AcceptInvite() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const accept = useMutation(AcceptDoc);
  const [password, setPassword] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const data = await accept.run({ token: params.get("token") ?? "", password });
    if (data) {
      setSession(data.acceptInvite);
      navigate("/");
    }
  };
  return (
    <AuthFrame title={t("auth.join")}>
      <form onSubmit={submit} className="form">
        <label>
          {t("auth.choosePassword")}
          <input
            type="password"
            required
            minLength={10}
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <ErrorBox error={accept.error} />
        <button type="submit" disabled={accept.pending}>
          {t("auth.join")}
        </button>
      </form>
    </AuthFrame>
  );
}
