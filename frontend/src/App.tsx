import { lazy, Suspense, useEffect, useSyncExternalStore } from "react";
import { Navigate, Route, Routes } from "react-router";
import { useQuery } from "./api/hooks";
import { currentSession, onSessionChange } from "./api/session";
import { Layout } from "./components/Layout";
import { ErrorBox, Loading } from "./components/States";
import { graphql } from "./gql";
import { useI18n } from "./i18n";
import { isAdmin, MeContext } from "./me";
import { AcceptInvite, Login, SignUp } from "./pages/Auth";

const Dashboard = lazy(() => import("./pages/Dashboard"));
const Calls = lazy(() => import("./pages/Calls"));
const Chats = lazy(() => import("./pages/Chats"));
const Customers = lazy(() => import("./pages/Customers"));
const CustomerCard = lazy(() => import("./pages/CustomerCard"));
const Import = lazy(() => import("./pages/Import"));
const Settings = lazy(() => import("./pages/settings/Settings"));

export const MeQueryDoc = graphql(`
  query Me {
    me {
      user { id name email role away online }
      company { id name defaultCountry timeZone recordingRetentionDays }
    }
  }
`);

function useSession() {
  return useSyncExternalStore(onSessionChange, () => localStorage.getItem("crm.session"));
}

export function App() {
  const raw = useSession();
  if (!raw || !currentSession()) {
    return (
      <Routes>
        <Route path="/signup" element={<SignUp />} />
        <Route path="/invite" element={<AcceptInvite />} />
        <Route path="/login" element={<Login />} />
        <Route path="*" element={<Navigate to="/login" replace />} />
      </Routes>
    );
  }
  return <SignedIn />;
}

function SignedIn() {
  const { data, error, reload } = useQuery(MeQueryDoc);
  const { setTimeZone } = useI18n();
  const zone = data?.me.company.timeZone;
  useEffect(() => {
    if (zone) setTimeZone(zone);
  }, [zone, setTimeZone]);
  if (!data) return error ? <ErrorBox error={error} retry={reload} /> : <Loading />;
  const admin = isAdmin(data.me);
  return (
    <MeContext.Provider value={{ me: data.me, reload }}>
      <Layout>
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="/" element={<Dashboard />} />
            <Route path="/calls" element={<Calls />} />
            <Route path="/calls/:id" element={<Calls />} />
            <Route path="/chats" element={<Chats />} />
            <Route path="/chats/:id" element={<Chats />} />
            <Route path="/customers" element={<Customers />} />
            <Route path="/customers/:id" element={<CustomerCard />} />
            {admin && <Route path="/import" element={<Import />} />}
            {admin && <Route path="/settings/*" element={<Settings />} />}
            <Route path="*" element={<Navigate to="/" replace />} />
          </Routes>
        </Suspense>
      </Layout>
    </MeContext.Provider>
  );
}
