// Confide's reference web client: proves the public API works from a browser through the gateway.
// Plain TypeScript on the generated clients (@bufbuild/protoc-gen-es + @connectrpc/connect-web).
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Jurisdiction } from "../../clients/ts/gen/confide/common/v1/jurisdiction_pb.js";
import { TimeRangeSchema } from "../../clients/ts/gen/confide/common/v1/time_pb.js";
import {
  CareKind,
  DirectoryService,
  Modality as DirectoryModality,
  type SearchResult,
} from "../../clients/ts/gen/confide/directory/v1/directory_pb.js";
import { AuthService } from "../../clients/ts/gen/confide/identity/v1/identity_pb.js";
import {
  MessageKind,
  MessagingService,
  type Message,
} from "../../clients/ts/gen/confide/messaging/v1/messaging_pb.js";
import {
  AppointmentService,
  AvailabilityService,
  Modality,
  SessionService,
  type Slot,
} from "../../clients/ts/gen/confide/scheduling/v1/scheduling_pb.js";

let accessToken: string | null = null;
let clientId = "";
let appointmentId = "";
let threadId = "";

const withToken: Interceptor = (next) => async (request) => {
  if (accessToken) request.header.set("authorization", `Bearer ${accessToken}`);
  return next(request);
};
// Same origin as the page: the gateway serves both, so the browser needs no CORS.
const transport = createConnectTransport({ baseUrl: window.location.origin, interceptors: [withToken] });
const auth = createClient(AuthService, transport);
const availability = createClient(AvailabilityService, transport);
const appointments = createClient(AppointmentService, transport);
const sessions = createClient(SessionService, transport);
const directory = createClient(DirectoryService, transport);
const messaging = createClient(MessagingService, transport);
const clientTimeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const show = (id: string, visible = true): void => {
  $(id).hidden = !visible;
};
const say = (text: string): void => {
  $("status").textContent = text;
};
const newKey = (): string => crypto.randomUUID();

function explain(error: unknown): string {
  if (error instanceof ConnectError) {
    if (error.code === Code.FailedPrecondition) return `Not possible: ${error.rawMessage}`;
    if (error.code === Code.Unauthenticated) return "Please sign in again.";
    return error.rawMessage;
  }
  return String(error);
}

function subjectOf(token: string): string {
  const payload = token.split(".")[1] ?? "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return (JSON.parse(json) as { sub: string }).sub;
}

function fillStates(): void {
  const select = $<HTMLSelectElement>("state");
  for (const [name, value] of Object.entries(Jurisdiction)) {
    if (typeof value !== "number" || value === Jurisdiction.UNSPECIFIED) continue;
    const option = document.createElement("option");
    option.value = String(value);
    option.textContent = name;
    select.append(option);
  }
  select.value = String(Jurisdiction.CA);
}

async function signIn(): Promise<void> {
  say("");
  try {
    const reply = await auth.signIn({
      practiceId: $<HTMLInputElement>("practice").value.trim(),
      email: $<HTMLInputElement>("email").value.trim(),
      password: $<HTMLInputElement>("password").value,
    });
    if (!reply.session) {
      say("This account needs a second factor; use an authenticator-enabled client.");
      return;
    }
    accessToken = reply.session.accessToken;
    clientId = subjectOf(accessToken);
    show("sign-in", false);
    show("find");
    say("Signed in.");
  } catch (error) {
    say(explain(error));
  }
}

function state(): Jurisdiction {
  return Number($<HTMLSelectElement>("state").value) as Jurisdiction;
}

async function findClinicians(): Promise<void> {
  say("");
  const results = $("results");
  results.replaceChildren();
  try {
    // Only clinicians who may lawfully treat the client where they will be (compliance decides).
    const reply = await directory.searchClinicians({
      clientId,
      clientState: state(),
      clientTimeZone,
      careKind: CareKind.THERAPY,
      modality: DirectoryModality.VIDEO,
    });
    if (reply.results.length === 0) {
      say("No clinician may see you in that state.");
      return;
    }
    for (const result of reply.results) results.append(resultCard(result));
  } catch (error) {
    say(explain(error));
  }
}

function resultCard(result: SearchResult): HTMLElement {
  const card = document.createElement("div");
  card.className = "result";
  const profile = result.profile;
  const title = document.createElement("strong");
  title.textContent = `${profile?.content?.displayName ?? "Clinician"} — ${profile?.professionLabel ?? ""}`;
  const why = document.createElement("p");
  why.textContent = result.explanation?.reasons.join(" · ") ?? "";
  const times = document.createElement("button");
  times.className = "see-times";
  times.textContent = "See times";
  times.addEventListener("click", () => void showSlots(profile?.clinicianId ?? "", title.textContent ?? ""));
  card.append(title, why, times);
  return card;
}

async function showSlots(clinicianId: string, name: string): Promise<void> {
  say("");
  const list = $("slots");
  list.replaceChildren();
  $("clinician-name").textContent = name;
  try {
    const now = new Date();
    const reply = await availability.searchSlots({
      clientId,
      sessionTypeCode: "psychotherapy_45",
      modality: Modality.VIDEO,
      clientState: state(),
      clinicianIds: [clinicianId],
      window: create(TimeRangeSchema, {
        start: timestampFromDate(new Date(now.getTime() + 60 * 1000)),
        end: timestampFromDate(new Date(now.getTime() + 7 * 24 * 3600 * 1000)),
      }),
      maxResults: 20,
    });
    if (reply.slots.length === 0) {
      say("No free time this week.");
      return;
    }
    for (const slot of reply.slots) list.append(slotButton(slot));
    show("book");
  } catch (error) {
    say(explain(error));
  }
}

function slotButton(slot: Slot): HTMLButtonElement {
  const button = document.createElement("button");
  button.className = "slot";
  button.textContent = slot.clientLocalStart;
  button.addEventListener("click", () => void book(slot));
  return button;
}

async function book(slot: Slot): Promise<void> {
  say("");
  try {
    const reply = await appointments.bookAppointment({
      clientId,
      clinicianId: slot.clinicianId,
      sessionTypeCode: "psychotherapy_45",
      modality: Modality.VIDEO,
      startTime: slot.time?.start,
      clientState: state(),
      idempotencyKey: newKey(),
    });
    appointmentId = reply.appointment?.appointmentId ?? "";
    const start = reply.appointment?.time?.start;
    $("appointment-summary").textContent = `Booked for ${start ? timestampDate(start).toLocaleString() : "?"}.`;
    show("find", false);
    show("book", false);
    show("appointment");
    say("Booked.");
    void openChat();
  } catch (error) {
    say(explain(error));
  }
}

async function checkIn(): Promise<void> {
  say("");
  try {
    await sessions.checkIn({
      appointmentId,
      location: { state: state(), atHome: $<HTMLInputElement>("at-home").checked },
      identityConfirmed: true,
      idempotencyKey: newKey(),
    });
    say("Checked in. Your clinician will start the session.");
  } catch (error) {
    say(explain(error));
  }
}

async function openChat(): Promise<void> {
  try {
    const reply = await messaging.createThread({ clientId, idempotencyKey: `thread-${clientId}` });
    threadId = reply.thread?.threadId ?? "";
    show("chat");
    void follow(0n);
  } catch (error) {
    say(explain(error));
  }
}

function render(message: Message): void {
  const line = document.createElement("p");
  line.className = "message";
  line.textContent = message.body;
  $("chat-log").append(line);
}

// Live chat: a server stream through the gateway; after a drop it resumes from the last sequence seen.
async function follow(after: bigint): Promise<void> {
  let last = after;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      for await (const event of messaging.streamMessages({ threadId, afterSequence: last })) {
        if (event.message) {
          render(event.message);
          last = event.message.sequence;
        }
      }
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
    }
  }
}

async function send(): Promise<void> {
  const input = $<HTMLInputElement>("chat-text");
  const body = input.value.trim();
  if (!body || !threadId) return;
  try {
    await messaging.sendMessage({ threadId, kind: MessageKind.LIVE_CHAT, body, idempotencyKey: newKey() });
    input.value = "";
  } catch (error) {
    say(explain(error));
  }
}

fillStates();
$("chat-send").addEventListener("click", () => void send());
$("sign-in-button").addEventListener("click", () => void signIn());
$("search-button").addEventListener("click", () => void findClinicians());
$("check-in-button").addEventListener("click", () => void checkIn());
