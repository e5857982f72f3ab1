// The official `openai` npm client against `troika serve`: chat, streaming, tools, json_schema,
// n, logprobs, embeddings, models and errors. Prints one JSON summary; exits 1 on a failed check.
//   node tests/e2e/openai_client.mjs BASE_URL [API_KEY]
import OpenAI from 'openai';

const [baseURL, apiKey = 'none'] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const summary = {};

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

const messages = [{ role: 'user', content: 'Say something short.' }];

// Every sampled request names its seed: the answers (of random-weight models) are the same on
// every run.
// Chat.
const chat = await client.chat.completions.create({
  model: 'brain', messages, max_tokens: 12, temperature: 0, reproducible: true,
});
check(chat.object === 'chat.completion', 'chat object');
check(chat.choices.length === 1 && chat.choices[0].message.role === 'assistant', 'chat choice');
check(typeof chat.choices[0].message.content === 'string', 'chat content');
check(chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens > 0, 'chat usage');
summary.chat = chat.choices[0].message.content;

// Streaming: the deltas add up to the same greedy text.
const stream = await client.chat.completions.create({
  model: 'brain', messages, max_tokens: 12, temperature: 0, reproducible: true, stream: true,
  stream_options: { include_usage: true },
});
let streamed = '';
let chunks = 0;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check(chunks >= 2, 'stream has chunks');
check(finish === 'stop' || finish === 'length', 'stream finish_reason');
check(usage && usage.completion_tokens > 0, 'stream usage');
check(streamed === chat.choices[0].message.content, `streamed text ${JSON.stringify(streamed)} equals the whole ${JSON.stringify(chat.choices[0].message.content)}`);
summary.stream_chunks = chunks;

// Tools: a required call comes back as tool_calls with arguments valid for the parameters.
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } }, required: ['city'], additionalProperties: false },
  },
}];
const called = await client.chat.completions.create({
  model: 'fast', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, tool_choice: 'required', max_tokens: 400, seed: 5,
});
const calls = called.choices[0].message.tool_calls;
check(called.choices[0].finish_reason === 'tool_calls', 'tools finish_reason');
check(Array.isArray(calls) && calls.length >= 1, 'tool_calls present');
check(calls[0].type === 'function' && calls[0].function.name === 'get_weather', 'tool name');
const args = JSON.parse(calls[0].function.arguments);
check(typeof args.city === 'string', 'tool arguments valid');
summary.tool_call = calls[0].function;

// The call's result fed back: the conversation goes on.
const answered = await client.chat.completions.create({
  model: 'fast', tools, max_tokens: 16, tool_choice: 'none', seed: 6,
  messages: [{ role: 'user', content: 'Weather in Paris?' }, called.choices[0].message,
    { role: 'tool', tool_call_id: calls[0].id, content: '{"temp_c": 18}' }],
});
check(typeof answered.choices[0].message.content === 'string', 'answer after a tool result');

// json_schema: the content parses and has the required fields.
const schema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 16 }, age: { type: 'integer', minimum: 0, maximum: 150 } },
  required: ['name', 'age'], additionalProperties: false,
};
const structured = await client.chat.completions.create({
  model: 'fast', messages: [{ role: 'user', content: 'A person as JSON.' }], max_tokens: 400, seed: 7,
  response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
});
check(structured.choices[0].finish_reason === 'stop', 'json_schema finished');
const person = JSON.parse(structured.choices[0].message.content);
check(typeof person.name === 'string' && Number.isInteger(person.age), 'json_schema value');
summary.person = person;

// n and logprobs.
const many = await client.chat.completions.create({
  model: 'brain', messages, n: 3, max_tokens: 8, temperature: 0.9, seed: 11, logprobs: true, top_logprobs: 2,
});
check(many.choices.length === 3, 'n choices');
for (const c of many.choices) {
  check(Array.isArray(c.logprobs?.content) && c.logprobs.content.length > 0, 'logprobs content');
  for (const t of c.logprobs.content) {
    check(t.logprob <= 0 && t.top_logprobs.length === 2, 'logprob entries');
  }
}
summary.n = many.choices.length;

// Embeddings (the client asks for base64 and decodes it).
const emb = await client.embeddings.create({ model: 'tool', input: ['a cat', 'a dog'] });
check(emb.data.length === 2, 'embeddings count');
const v = emb.data[0].embedding;
check(Array.isArray(v) && v.length > 0, 'embedding vector');
const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
check(Math.abs(norm - 1) < 1e-3, 'embedding normalised');
summary.embedding_dim = v.length;

// Models.
const models = [];
for await (const m of client.models.list()) models.push(m.id);
check(models.includes('brain') && models.includes('fast') && models.includes('tool'), 'models list');
summary.models = models;

// Errors come back as the client's typed errors.
try {
  await client.chat.completions.create({ model: 'no-such-model', messages });
  check(false, 'unknown model is refused');
} catch (e) {
  check(e instanceof OpenAI.NotFoundError && e.status === 404, 'unknown model is a NotFoundError: ' + e);
}
try {
  await client.chat.completions.create({ model: 'brain', messages, max_tokens: 10 ** 7 });
  check(false, 'huge max_tokens is refused');
} catch (e) {
  check(e instanceof OpenAI.BadRequestError, 'huge max_tokens is a BadRequestError: ' + e);
}

console.log(JSON.stringify(summary));
