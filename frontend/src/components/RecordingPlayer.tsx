import { useEffect, useRef, useState } from "react";
import { useI18n } from "../i18n";
import { normalise, peaks, seekPosition } from "../lib/waveform";

const BARS = 160;

/**
 * A call recording: its waveform (customer left channel above, agent right channel below),
 * click to seek, play, download. The audio is fetched once and played from memory, so seeking
 * works whatever the file server supports.
 */
export function RecordingPlayer({ url }: { url: string }) {
  const { t, duration } = useI18n();
  const audio = useRef<HTMLAudioElement>(null);
  const [state, setState] = useState<{ src?: string; waves?: number[][]; error?: boolean }>({});
  const [position, setPosition] = useState(0);
  const [length, setLength] = useState(0);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let src: string | undefined;
    let live = true;
    (async () => {
      try {
        const response = await fetch(url);
        if (!response.ok) throw new Error(String(response.status));
        const bytes = await response.arrayBuffer();
        src = URL.createObjectURL(new Blob([bytes], { type: response.headers.get("content-type") ?? "audio/wav" }));
        const context = new OfflineAudioContext(1, 1, 8000);
        const decoded = await context.decodeAudioData(bytes.slice(0));
        const raw = Array.from({ length: decoded.numberOfChannels }, (_, c) => peaks(decoded.getChannelData(c), BARS));
        const waves = normalise(raw);
        if (live) {
          setLength(decoded.duration);
          setState({ src, waves });
        }
      } catch {
        if (live) setState({ error: true });
      }
    })();
    return () => {
      live = false;
      if (src) URL.revokeObjectURL(src);
    };
  }, [url, attempt]);

  if (state.error)
    return (
      <div className="error" role="alert">
        {t("recording.failed")}{" "}
        <button type="button" onClick={() => setAttempt((a) => a + 1)}>
          {t("common.retry")}
        </button>
      </div>
    );
  if (!state.src || !state.waves) return <div className="loading">{t("recording.loading")}</div>;
  const played = length > 0 ? position / length : 0;
  return (
    <div className="recording" data-testid="recording">
      <svg
        className="waveform"
        viewBox={`0 0 ${BARS} 2`}
        preserveAspectRatio="none"
        role="slider"
        tabIndex={0}
        aria-label={t("recording.seek")}
        aria-valuemin={0}
        aria-valuemax={Math.round(length)}
        aria-valuenow={Math.round(position)}
        onClick={(e) => {
          const box = e.currentTarget.getBoundingClientRect();
          if (audio.current) audio.current.currentTime = seekPosition(e.clientX - box.left, box.width, length);
        }}
        onKeyDown={(e) => {
          if (!audio.current) return;
          if (e.key === "ArrowRight") audio.current.currentTime = Math.min(length, position + 5);
          if (e.key === "ArrowLeft") audio.current.currentTime = Math.max(0, position - 5);
        }}
      >
        {state.waves.map((wave, channel) =>
          wave.map((peak, i) => (
            <rect
              key={`${channel}-${i}`}
              x={i + 0.1}
              width={0.8}
              y={channel === 0 ? 1 - peak * 0.95 : 1}
              height={Math.max(0.01, peak * 0.95)}
              className={i / BARS < played ? "played" : channel === 0 ? "left" : "right"}
            />
          )),
        )}
      </svg>
      <div className="recording-controls">
        <audio
          ref={audio}
          src={state.src}
          controls
          preload="auto"
          onTimeUpdate={(e) => setPosition(e.currentTarget.currentTime)}
        />
        <span className="hint">
          {duration(position)} / {duration(length)}
        </span>
        <a href={url} download>
          {t("recording.download")}
        </a>
      </div>
    </div>
  );
}
