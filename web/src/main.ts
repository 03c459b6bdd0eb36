// Confide's reference web client: proves the public API works from a browser through the gateway.
// Plain TypeScript on the generated clients (@bufbuild/protoc-gen-es + @connectrpc/connect-web).
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Jurisdiction } from "../../clients/ts/gen/confide/common/v1/jurisdiction_pb.js";
import { TimeRangeSchema } from "../../clients/ts/gen/confide/common/v1/time_pb.js";
import { AuthService } from "../../clients/ts/gen/confide/identity/v1/identity_pb.js";
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
    const now = new Date();
    const reply = await availability.searchSlots({
      clientId,
      sessionTypeCode: "psychotherapy_45",
      modality: Modality.VIDEO,
      clientState: state(),
      window: create(TimeRangeSchema, {
        start: timestampFromDate(now),
        end: timestampFromDate(new Date(now.getTime() + 7 * 24 * 3600 * 1000)),
      }),
      maxResults: 20,
    });
    if (reply.slots.length === 0) {
      say("No clinician may see you in that state this week.");
      return;
    }
    for (const slot of reply.slots) results.append(slotButton(slot));
    show("book");
  } catch (error) {
    say(explain(error));
  }
}

function slotButton(slot: Slot): HTMLButtonElement {
  const button = document.createElement("button");
  button.className = "slot";
  button.textContent = `${slot.clientLocalStart} (clinician ${slot.clinicianId.slice(-4)})`;
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
    show("chat");
    say("Booked.");
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

fillStates();
$("sign-in-button").addEventListener("click", () => void signIn());
$("search-button").addEventListener("click", () => void findClinicians());
$("check-in-button").addEventListener("click", () => void checkIn());
