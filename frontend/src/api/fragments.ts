// Fragments shared by several screens (and the live call events that update them).
import { graphql } from "../gql";

export const CallRow = graphql(`
  fragment CallRow on Call {
    id direction status fromNumber toNumber userId customerId startedAt answeredAt endedAt waitSeconds talkSeconds
    hangupBy recordingUrl recordingDeletedAt
    customer { id name phones }
  }
`);
