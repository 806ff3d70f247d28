import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { ErrorBox, Loading } from "../../components/States";
import { graphql } from "../../gql";
import type { Role } from "../../gql/graphql";
import { useI18n } from "../../i18n";
import { useMe } from "../../me";

const TeamDoc = graphql(`query Team { users { id name email role joinedAt active online away } }`);
const Invite = graphql(`
  mutation Invite($email: String!, $name: String!, $role: Role!) { inviteUser(email: $email, name: $name, role: $role) { inviteToken user { id } } }
`);
const ChangeRole = graphql(`mutation ChangeRole($id: ID!, $role: Role!) { updateUserRole(userId: $id, role: $role) { id role } }`);

const ROLES: Role[] = ["OWNER", "ADMIN", "AGENT"];

export function Team() {
  const me = useMe();
  const { t, dateTime } = useI18n();
  const team = useQuery(TeamDoc);
  const invite = useMutation(Invite);
  const changeRole = useMutation(ChangeRole);
  const [form, setForm] = useState({ email: "", name: "", role: "AGENT" as Role });
  const [link, setLink] = useState<string | null>(null);
  if (!team.data) return team.error ? <ErrorBox error={team.error} retry={team.reload} /> : <Loading />;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const done = await invite.run(form);
    if (done) {
      const token = done.inviteUser.inviteToken;
      setLink(token ? `${window.location.origin}/invite?token=${encodeURIComponent(token)}` : t("team.joinedAlready"));
      setForm({ email: "", name: "", role: "AGENT" });
      team.reload();
    }
  };
  return (
    <div className="settings">
      <h2>{t("settings.team")}</h2>
      <table>
        <thead>
          <tr>
            <th>{t("auth.name")}</th>
            <th>{t("auth.email")}</th>
            <th>{t("team.role")}</th>
            <th>{t("team.presence")}</th>
            <th>{t("team.joined")}</th>
          </tr>
        </thead>
        <tbody>
          {team.data.users.map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>{u.email}</td>
              <td>
                <select
                  aria-label={t("team.roleOf", { name: u.name })}
                  value={u.role}
                  disabled={u.id === me.user.id}
                  onChange={async (e) => {
                    if (await changeRole.run({ id: u.id, role: e.target.value as Role })) team.reload();
                  }}
                >
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {t(`role.${r}`)}
                    </option>
                  ))}
                </select>
              </td>
              <td>{!u.active ? t("team.invited") : u.away ? t("team.away") : u.online ? t("team.online") : t("team.offline")}</td>
              <td>{dateTime(u.joinedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorBox error={changeRole.error} />
      <form className="form" onSubmit={submit} aria-label={t("team.invite")}>
        <h3>{t("team.invite")}</h3>
        <label>
          {t("auth.name")}
          <input required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        </label>
        <label>
          {t("auth.email")}
          <input type="email" required value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
        </label>
        <label>
          {t("team.role")}
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
            {ROLES.filter((r) => r !== "OWNER").map((r) => (
              <option key={r} value={r}>
                {t(`role.${r}`)}
              </option>
            ))}
          </select>
        </label>
        <ErrorBox error={invite.error} />
        <button type="submit" disabled={invite.pending}>
          {t("team.invite")}
        </button>
      </form>
      {link && (
        <p role="status">
          {t("team.sendLink")} <input readOnly value={link} data-testid="invite-link" onFocus={(e) => e.target.select()} />
        </p>
      )}
    </div>
  );
}
