/*
 * taxonomy.h -- tool-name categories and skill-name inference shared by the
 * agent parsers.
 *
 * pd_tool_category() maps a raw tool name as an agent recorded it ("Read",
 * "exec_command", "mcp__x__spawn_subagent") to one of the categories the
 * archive stores in tool_calls.category: Read, Edit, Write, Bash, Grep, Glob,
 * Task, Tool or Other.
 *
 * pd_skill_name_infer() guesses which skill a tool call loaded when the call
 * is not an explicit Skill invocation. It looks for a read tool whose input
 * names a .../SKILL.md path, or a shell tool whose command reads one with
 * cat, head, tail, less, more, sed (not in place), grep or rg. The name comes
 * from the file's YAML front matter `name:` when the file can be read, else
 * from the directory that contains SKILL.md.
 *
 * Thread-safety: pd_tool_category() is pure. The inference functions read
 * files and $HOME but keep no state, so they may run on any thread.
 */
#ifndef PD_TAXONOMY_H
#define PD_TAXONOMY_H

#include <stddef.h>

#include "common/arena.h"
#include "common/json.h"

/*
 * Returns the category of a tool name as a constant string: "Read", "Edit",
 * "Write", "Bash", "Grep", "Glob", "Task", "Tool" or "Other". A name missing
 * from the table is "Task" when it contains "subagent", else "Other". NULL is
 * "Other".
 */
const char *pd_tool_category(const char *name);

/* Largest SKILL.md prefix read for its front matter, in bytes. */
#define PD_SKILL_FRONTMATTER_MAX ((size_t)64 << 10)

/*
 * Infers the skill a tool call loaded. tool_name decides the rule. Read tools
 * ("read", "readfile", "read_file", any case) search every string of the
 * input for a SKILL.md path. Shell tools ("bash", "exec_command",
 * "shell_command", "shell", any case) parse the command. input is the parsed input value, or an
 * absent handle when the input is not valid JSON; input_text is its text (raw
 * JSON or plain text, may be NULL). Relative paths resolve against the input's
 * "workdir", "cwd" or "working_directory" string, else against
 * fallback_base_dir (may be NULL); "~/" expands to $HOME.
 *
 * Sets *out to an arena string (sanitised UTF-8) or NULL when nothing was
 * inferred. Returns PD_OK or PD_ENOMEM. The JSON handle is only read, so the
 * caller's parse stays valid.
 */
int pd_skill_name_infer(pd_arena *a, const char *tool_name, pd_json input, const char *input_text,
                        size_t input_len, const char *fallback_base_dir, char **out);

/*
 * Same as pd_skill_name_infer() for an input held only as text, such as a
 * Codex "arguments" string. The text is parsed with scratch when it mentions
 * SKILL.md, which ends any earlier parse on scratch, so scratch must not be
 * the parser whose handles the caller still uses, and input_text must not
 * point into scratch's own copy. Returns PD_OK or PD_ENOMEM.
 */
int pd_skill_name_infer_text(pd_arena *a, pd_json_parser *scratch, const char *tool_name,
                             const char *input_text, size_t input_len,
                             const char *fallback_base_dir, char **out);

#endif
