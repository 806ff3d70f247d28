import { createContext, useContext } from "react";
import type { MeQuery } from "./gql/graphql";

export type Me = MeQuery["me"];
export const MeContext = createContext<{ me: Me; reload: () => void } | null>(null);

export function useMe(): Me {
  const value = useContext(MeContext);
  if (!value) throw new Error("useMe outside the signed-in app");
  return value.me;
}

export function useReloadMe(): () => void {
  return useContext(MeContext)?.reload ?? (() => {});
}

export const isAdmin = (me: Me) => me.user.role === "OWNER" || me.user.role === "ADMIN";
