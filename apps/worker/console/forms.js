// The two forms through which the console sends what only the end user knows: MFA answers (one field
// per challenge, shaped by its type) and new credentials (one password input per credential field of
// the member). Values go straight from the inputs into the request body and the inputs are emptied
// after each submission; nothing is kept, logged or shown back.
import { segment } from "./api.js"
import { h, say, time } from "./dom.js"

/** An image MX sent (`image_data`, an option's `data_uri`) as an `<img>`, only as a `data:` image. */
const image = (source, alt) => {
  if (typeof source !== "string" || source === "") return null
  const trimmed = source.trim()
  const uri = /^data:image\//i.test(trimmed)
    ? trimmed
    : /^[A-Za-z0-9+/=\s]+$/.test(trimmed)
    ? `data:image/png;base64,${trimmed.replace(/\s/g, "")}`
    : null
  return uri === null ? h("span", { class: "muted", text: "(image not shown: not an image)" }) : h("img", {
    src: uri,
    alt,
    class: "challenge-image"
  })
}

/** One free-text answer (TEXT, TOKEN, LOGIN, PASSWORD, an unknown type): the input and how to read it. */
const textField = (challenge, label, kind) => {
  const id = `answer-${challenge.guid}`
  const input = h("input", {
    id,
    name: id,
    type: kind === "PASSWORD" ? "password" : "text",
    autocomplete: kind === "TOKEN" ? "one-time-code" : "off",
    spellcheck: "false",
    required: true
  })
  return {
    element: h("div", { class: "field" }, h("label", { for: id, text: label }), input),
    value: () => input.value,
    clear: () => {
      input.value = ""
    }
  }
}

/** One choice among options (OPTIONS, IMAGE_OPTIONS): radio buttons, answered with the option's value. */
const choiceField = (challenge, label, options, withImages) => {
  const name = `answer-${challenge.guid}`
  const radios = options.map((option, index) =>
    h("input", { type: "radio", name, value: option.value, id: `${name}-${index}`, required: index === 0 })
  )
  return {
    element: h(
      "fieldset",
      { class: "field choices" },
      h("legend", { text: label }),
      options.map((option, index) =>
        h(
          "label",
          { for: `${name}-${index}`, class: "choice" },
          radios[index],
          withImages ? image(option.data_uri, option.label ?? option.value) : null,
          h("span", { text: option.label ?? option.value })
        )
      )
    ),
    value: () => radios.find((radio) => radio.checked)?.value ?? "",
    clear: () => radios.forEach((radio) => (radio.checked = false))
  }
}

/** The field of one challenge, by its type; a type the console does not know is answered as text. */
const challengeField = (challenge) => {
  const label = challenge.label ?? challenge.field_name ?? "Answer"
  switch (challenge.type) {
    case "OPTIONS":
      if (challenge.options.length > 0) return choiceField(challenge, label, challenge.options, false)
      break
    case "IMAGE_OPTIONS":
      if (challenge.image_options.length > 0) return choiceField(challenge, label, challenge.image_options, true)
      break
    case "IMAGE_DATA": {
      const field = textField(challenge, label, "TEXT")
      field.element.prepend(image(challenge.image_data, label) ?? "")
      return field
    }
  }
  return textField(challenge, label, challenge.type)
}

/**
 * The answer form of a member's pending challenges: posts `{ answers: [{ guid, value }] }` to
 * `members/<guid>/challenges/answers` and reports into `messages`. Once accepted, the form stays
 * disabled until the worker closes the round (the page then drops it).
 */
export const challengeForm = ({ api, memberGuid, pending, messages }) => {
  const fields = pending.challenges.map((challenge) => ({ guid: challenge.guid, ...challengeField(challenge) }))
  const submit = h("button", { type: "submit", text: "Send answers" })
  const form = h(
    "form",
    { class: "challenge-form", autocomplete: "off", dataset: { member: memberGuid, run: pending.runId } },
    h(
      "p",
      { class: "challenge-types" },
      pending.challenges.map((challenge) => h("span", { class: "tag", text: challenge.type ?? "UNKNOWN" }))
    ),
    fields.map((field) => field.element),
    h(
      "p",
      { class: "muted" },
      pending.expiresAt === null ? "" : `Waits for answers until ${time(pending.expiresAt)}.`
    ),
    submit
  )
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    const answers = fields.map((field) => ({ guid: field.guid, value: field.value() }))
    if (answers.some((answer) => answer.value === "")) {
      say(messages, "error", "Answer every challenge first.")
      return
    }
    submit.disabled = true
    fields.forEach((field) => field.clear())
    try {
      await api.post(`members/${segment(memberGuid)}/challenges/answers`, { answers })
      form.classList.add("sent")
      form.querySelectorAll("input").forEach((input) => (input.disabled = true))
      submit.textContent = "Answers sent"
      say(messages, "ok", `Answers sent for ${memberGuid}: MX resumes the aggregation.`)
    } catch (error) {
      submit.disabled = false
      say(messages, "error", `Answers for ${memberGuid} not accepted: ${error.message}`)
    }
  })
  return form
}

/**
 * The credential-update form of a member, one password input per credential field the member itself
 * requires (MX's `GET …/members/<guid>/credentials`, in `display_order`): posts `{ credentials: [{ guid,
 * value }] }` to `members/<guid>/credentials`. The inputs are emptied whatever the answer.
 */
export const credentialForm = ({ api, memberGuid, fields, messages }) => {
  const ordered = [...fields].sort((a, b) => (a.display_order ?? 0) - (b.display_order ?? 0))
  const inputs = ordered.map((field) => {
    const id = `credential-${field.guid}`
    const input = h("input", {
      id,
      name: id,
      type: "password",
      autocomplete: "new-password",
      spellcheck: "false",
      required: true
    })
    return {
      guid: field.guid,
      input,
      element: h(
        "div",
        { class: "field" },
        h("label", { for: id, text: field.label ?? field.field_name ?? field.guid }),
        input
      )
    }
  })
  const submit = h("button", { type: "submit", text: "Update credentials" })
  const form = h(
    "form",
    { class: "credential-form", autocomplete: "off", dataset: { member: memberGuid } },
    h("p", {
      class: "muted",
      text: "The values go to MX only: the worker never stores them, and this page keeps none."
    }),
    inputs.map((field) => field.element),
    submit
  )
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    const credentials = inputs.map((field) => ({ guid: field.guid, value: field.input.value }))
    if (credentials.some((credential) => credential.value === "")) {
      say(messages, "error", "Fill in every field.")
      return
    }
    inputs.forEach((field) => (field.input.value = ""))
    submit.disabled = true
    try {
      const updated = await api.post(`members/${segment(memberGuid)}/credentials`, { credentials })
      form.classList.add("sent")
      inputs.forEach((field) => (field.input.disabled = true))
      submit.textContent = "Credentials sent"
      say(
        messages,
        "ok",
        `New credentials sent to MX for ${memberGuid}` +
          (updated?.runId ? `; run ${updated.runId} follows the member.` : ".")
      )
    } catch (error) {
      submit.disabled = false
      say(messages, "error", `Credentials for ${memberGuid} not updated: ${error.message}`)
    }
  })
  return form
}
