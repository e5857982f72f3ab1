#include "chat.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "engine/internal.h"

namespace troika::engine {

Result<std::string> Model::render_chat(std::span<const ChatMessage> messages,
                                       const ChatRenderOptions& options) const {
  if (messages.empty()) return invalid_argument("render_chat needs at least one message");
  common_chat_templates_inputs inputs;
  inputs.use_jinja = true;
  inputs.add_generation_prompt = options.add_generation_prompt;
  if (options.now_unix_s != 0) {
    // llama.cpp fills date_string/datetime from the wall clock; template kwargs override them.
    time_t t = static_cast<time_t>(options.now_unix_s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char date[32], datetime[32];
    std::strftime(date, sizeof(date), "%d %b %Y", &tm);
    std::strftime(datetime, sizeof(datetime), "%b %d %Y", &tm);
    inputs.chat_template_kwargs["date_string"] = nlohmann::json(date).dump();
    inputs.chat_template_kwargs["datetime"] = nlohmann::json(datetime).dump();
  }
  for (const auto& m : messages) {
    common_chat_msg msg;
    msg.role = m.role;
    msg.content = m.content;
    for (const auto& c : m.tool_calls) msg.tool_calls.push_back({c.name, c.arguments, c.id});
    msg.tool_call_id = m.tool_call_id;
    inputs.messages.push_back(std::move(msg));
  }
  for (const auto& t : options.tools) inputs.tools.push_back({t.name, t.description, t.parameters});
  inputs.parallel_tool_calls = !options.tools.empty();
  try {
    if (!options.template_override.empty()) {
      common_chat_templates_ptr own =
          common_chat_templates_init(impl_->model, options.template_override);
      return common_chat_templates_apply(own.get(), inputs).prompt;
    }
    std::lock_guard<std::mutex> lock(impl_->chat_mu);
    if (!impl_->chat) {
      impl_->chat = common_chat_templates_init(impl_->model, "").release();
    }
    return common_chat_templates_apply(impl_->chat, inputs).prompt;
  } catch (const std::exception& e) {
    return invalid_argument(std::string("chat template failed on these messages: ") + e.what());
  }
}

}  // namespace troika::engine
