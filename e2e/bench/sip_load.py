#!/usr/bin/env python3
"""Load benchmark of the built-in SIP edge: sipp plays Kerio Control placing calls with RTP
(a tone each way, sent by sipp's rtp_stream from G.711 A-law files) to an agent played by a sipp UAS; every call is relayed and recorded.

Steps of concurrent calls (50, 100, 200, 400, then +100: 500, 600, ...) run while they hold; for each: calls placed,
failed, server CPU seconds per call-minute, resident memory, and RTP packets received versus
written into recordings (loss). Usage: e2e/bench/sip-load [max concurrent calls]."""
import csv, json, math, os, shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRM = os.path.join(ROOT, "target", "release", "crm")
SIP_PORT, PHONE_PORT = 5070, 5080
# Every call talks HOLD_SECONDS after the last one of its step is placed, so all of a step's calls
# are up at once for that long; calls are placed at most MAX_RATE per second.
HOLD_SECONDS, MAX_RATE = 20, 25
TICKS = os.sysconf("SC_CLK_TCK")


def tone_alaw(path, freq, seconds):
    """Raw G.711 A-law of a tone, for sipp's rtp_stream (which sends from ordinary UDP sockets;
    play_pcap_audio sends through raw sockets, and hundreds of those make the kernel check
    every UDP packet on the host against each of them, a cost billed to whoever receives)."""
    def alaw(s):
        sign = 0x80 if s >= 0 else 0
        v = min(-s - 1 if s < 0 else s, 32767)
        if v < 256:
            e, m = 0, v >> 4
        else:
            e = v.bit_length() - 8
            m = (v >> (e + 3)) & 0x0F
        return (sign | (e << 4) | m) ^ 0x55
    period = [alaw(int(9000 * math.sin(2 * math.pi * freq * i / 8000))) for i in range(8000)]
    open(path, "wb").write(bytes(period) * seconds)


def gql(addr, query, variables=None, token=None):
    req = urllib.request.Request(f"http://{addr}/graphql", json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})})
    body = json.load(urllib.request.urlopen(req))
    if body.get("errors"):
        raise SystemExit(f"GraphQL error: {body['errors']}")
    return body["data"]


HEAD = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]"""

REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      %(h)s
      From: <sip:%(u)s@[remote_ip]>;tag=[pid]
      To: <sip:%(u)s@[remote_ip]>
      CSeq: 1 REGISTER
      Contact: <sip:%(u)s@[local_ip]:[local_port]>
      Expires: 3600
      Content-Length: 0
  ]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      %(h)s
      From: <sip:%(u)s@[remote_ip]>;tag=[pid]
      To: <sip:%(u)s@[remote_ip]>
      CSeq: 2 REGISTER
      Contact: <sip:%(u)s@[local_ip]:[local_port]>
      Expires: 3600
      [authentication username=%(u)s password=%(p)s]
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>"""

AGENT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
  ]]></send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec rtp_stream="agent.al,1,8"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
</scenario>"""

TRUNK = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="kerio">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      %(h)s
      From: <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      CSeq: 1 INVITE
      Contact: <sip:kerio@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      %(h)s
      From: <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 1 ACK
      Content-Length: 0
  ]]></send>
  <nop><action><exec rtp_stream="trunk.al,1,8"/></action></nop>
  <pause milliseconds="%(ms)d"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      %(h)s
      From: <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 2 BYE
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>"""


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


ASTERISK_BASE = {
    "modules.conf": "[modules]\nautoload = yes\nnoload = chan_iax2.so\nnoload = res_pjsip_transport_websocket.so\n"
                    "noload = cdr_sqlite3_custom.so\nnoload = cel_sqlite3_custom.so\nnoload = res_phoneprov.so\n"
                    "noload = res_pjsip_phoneprov_provider.so\nnoload = chan_unistim.so\nnoload = chan_mgcp.so\nnoload = chan_skinny.so\n",
    "logger.conf": "[logfiles]\nmessages.log => notice,warning,error\n",
}


def start_asterisk(prefix, work, env, company):
    """Asterisk configured only from `crm asterisk-config`, plus its own folders and modules."""
    root = os.path.join(work, "asterisk")
    dirs = {k: os.path.join(root, k) for k in ("etc", "var", "spool", "run", "log")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    os.makedirs(os.path.join(dirs["spool"], "recording"), exist_ok=True)
    open(os.path.join(dirs["etc"], "asterisk.conf"), "w").write(
        f"[directories]\nastetcdir => {dirs['etc']}\nastmoddir => {prefix}/usr/lib/asterisk/modules\nastvarlibdir => {dirs['var']}\n"
        f"astdbdir => {dirs['var']}\nastkeydir => {dirs['var']}\nastdatadir => {prefix}/var/lib/asterisk\nastagidir => {dirs['var']}\n"
        f"astspooldir => {dirs['spool']}\nastrundir => {dirs['run']}\nastlogdir => {dirs['log']}\nastsbindir => {prefix}/usr/sbin\n")
    for name, content in ASTERISK_BASE.items():
        open(os.path.join(dirs["etc"], name), "w").write(content)
    subprocess.run([CRM, "asterisk-config", "--tenant", company, "--out", dirs["etc"]], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.Popen([os.path.join(prefix, "usr/sbin/asterisk"), "-f", "-n", "-C", os.path.join(dirs["etc"], "asterisk.conf")],
                            env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, "usr/lib")),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    args = sys.argv[1:]
    # --asterisk PREFIX: the same load through a real Asterisk and the ARI worker instead.
    asterisk_prefix = None
    if "--asterisk" in args:
        i = args.index("--asterisk")
        asterisk_prefix = args[i + 1]
        del args[i:i + 2]
    max_calls = int(args[0]) if args else 800
    work = tempfile.mkdtemp(prefix="crm-sip-load-")
    longest = math.ceil(max_calls / MAX_RATE) + HOLD_SECONDS + 1
    tone_alaw(os.path.join(work, "trunk.al"), 440, longest)
    tone_alaw(os.path.join(work, "agent.al"), 1000, longest)
    log = open(os.path.join(work, "crm.log"), "w")
    env = dict(os.environ, CRM_DATA_DIR=os.path.join(work, "data"), CRM_HTTP_ADDR="127.0.0.1:18282",
               CRM_SIP_ADDR=f"127.0.0.1:{SIP_PORT}", CRM_SIP_RTP_PORTS="20000-59998", CRM_LOG_FORMAT="json",
               CRM_LOG_LEVEL="warn,crm_sip=info", CRM_EDGE_ID="bench")
    if asterisk_prefix:
        env.update(CRM_SIP_ADDR="off", CRM_ASTERISK_WORKER="true", CRM_ASTERISK_ARI_ADDR="127.0.0.1:18088",
                   CRM_ASTERISK_ARI_PASSWORD="bench-ari-password", CRM_ASTERISK_SIP_ADDR=f"127.0.0.1:{SIP_PORT}",
                   CRM_ASTERISK_RTP_PORTS="20000-29998", CRM_SIP_LOCAL_NETS="127.0.0.0/8")
    crm = subprocess.Popen([CRM, "serve"], env=env, stderr=log, stdout=log)
    children = [crm]
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:18282/healthz")
                break
            except OSError:
                time.sleep(0.1)
        addr = "127.0.0.1:18282"
        signed = gql(addr, 'mutation { signUp(input: {company: "Bench", name: "Owner", email: "owner@bench.test", password: "benchmark password", defaultCountry: "UZ"}) { accessToken userId companyId } }')["signUp"]
        token, user_id = signed["accessToken"], signed["userId"]
        gql(addr, 'mutation { createTrunk(input: {name: "Kerio", sources: ["127.0.0.2"], numbers: ["+998712000000"], qualify: false}) { id } }', token=token)
        ext = gql(addr, "mutation($u: ID!) { createSipExtension(userId: $u) { password extension { username } } }", {"u": user_id}, token)["createSipExtension"]
        measured = [crm]
        if asterisk_prefix:
            ast = start_asterisk(asterisk_prefix, work, env, signed["companyId"])
            children.append(ast)
            measured.append(ast)
            for _ in range(600):
                if gql(addr, "{ asteriskStatus { connected } }", token=token)["asteriskStatus"]["connected"]:
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("the ARI worker did not connect to Asterisk")
        open(os.path.join(work, "register.xml"), "w").write(REGISTER % {"h": HEAD, "u": ext["extension"]["username"], "p": ext["password"]})
        subprocess.run(["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", "register.xml", "-i", "127.0.0.3", "-p", str(PHONE_PORT), "-m", "1", "-nostdin",
                        "-timeout", "10s", "-timeout_error"], cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open(os.path.join(work, "agent.xml"), "w").write(AGENT)
        agent = subprocess.Popen(["sipp", "-sf", "agent.xml", "-i", "127.0.0.3", "-p", str(PHONE_PORT), "-mi", "127.0.0.3", "-mp", "30000",
                                  "-nostdin", "-trace_err", "-error_file", "agent_errors.log"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(agent)
        idle = sum(rss_mb(p.pid) for p in measured)
        what = "crm (ARI worker) and Asterisk together" if asterisk_prefix else "The server"
        print(f"{what}: resident memory before the first call: {idle:.0f} MB\n")
        print(f"| concurrent calls | calls placed | failed | calls/s reached | CPU s per call-minute | cores per 100 concurrent calls | peak RSS MB | MB per call above idle | RTP received | recorded | loss |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        step, offset = 50, 0
        while step <= max_calls:
            rate = min(max(step // 5, 1), MAX_RATE)
            call_seconds = math.ceil(step / rate) + HOLD_SECONDS
            open(os.path.join(work, "trunk.xml"), "w").write(TRUNK % {"h": HEAD, "ms": call_seconds * 1000})
            log.flush()
            offset = os.path.getsize(log.name)
            cpu0, t0, peak = sum(cpu_seconds(p.pid) for p in measured), time.time(), 0.0
            stats = os.path.join(work, f"stats-{step}.csv")
            trunk = subprocess.Popen(["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", "trunk.xml", "-s", "+998712000000", "-i", "127.0.0.2",
                                      "-p", "5090", "-mi", "127.0.0.2", "-mp", "40000", "-r", str(rate), "-l", str(step), "-m", str(step),
                                      "-nostdin", "-trace_stat", "-stf", stats, "-trace_err", "-error_file", "trunk_errors.log", "-fd", "1", "-timeout", str(call_seconds * 3) + "s"],
                                     cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while trunk.poll() is None:
                peak = max(peak, sum(rss_mb(p.pid) for p in measured))
                if time.time() - t0 > call_seconds * 3:
                    trunk.kill()  # calls stuck on an overloaded server: the step has failed
                time.sleep(0.5)
            elapsed, cpu = time.time() - t0, sum(cpu_seconds(p.pid) for p in measured) - cpu0
            # Calls end a moment after sipp's BYE; give the edge time to log them.
            time.sleep(2)
            rows = list(csv.DictReader(open(stats), delimiter=";"))
            last = rows[-1] if rows else {}
            ok = int(last.get("SuccessfulCall(C)", 0))
            failed = int(last.get("FailedCall(C)", 0)) + (step - ok - int(last.get("FailedCall(C)", 0)))
            received = recorded = 0
            with open(log.name) as f:
                f.seek(offset)
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("message") == "call ended":
                        r = json.loads(entry["received"]); w = json.loads(entry["recorded"])
                        received += sum(r); recorded += sum(w)
            call_minutes = step * call_seconds / 60
            # A call-minute per minute per call: 100 concurrent calls cost 100 call-minutes each minute.
            cores = cpu / call_minutes * 100 / 60
            loss = (1 - recorded / received) * 100 if received else (0.0 if asterisk_prefix else 100.0)
            counts = "n/a (Asterisk records) | n/a | n/a" if asterisk_prefix else f"{received} | {recorded} | {loss:.3f} %"
            print(f"| {step} | {ok + failed} | {failed} | {step / (step / rate):.1f} | {cpu / call_minutes:.3f} | {cores:.3f} | {peak:.0f} | {(peak - idle) / step:.3f} | {counts} |", flush=True)
            if failed or loss > 0.1:
                for name in ("trunk_errors.log", "agent_errors.log"):
                    path = os.path.join(work, name)
                    if os.path.exists(path):
                        print(f"\n{name} (last lines):\n" + "".join(open(path).readlines()[-15:]), flush=True)
                warnings = [l for l in open(log.name).readlines()[-2000:] if '"level":"WARN"' in l or '"level":"ERROR"' in l]
                print(f"\nserver warnings and errors (last {min(len(warnings), 10)}):\n" + "".join(warnings[-10:]), flush=True)
                break
            step = step * 2 if step < 400 else step + 100
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
            child.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
