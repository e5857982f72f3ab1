// Chat template oracle: renders a Jinja chat template with @huggingface/jinja, the
// implementation transformers.js uses. Reads {template, messages, bos_token, eos_token,
// add_generation_prompt} as JSON on stdin, writes the rendered text to stdout.
import { Template } from "@huggingface/jinja";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
const tmpl = new Template(req.template);
process.stdout.write(
  tmpl.render({
    messages: req.messages,
    bos_token: req.bos_token ?? "",
    eos_token: req.eos_token ?? "",
    add_generation_prompt: req.add_generation_prompt ?? true,
  }),
);
