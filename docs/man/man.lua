-- pandoc filter that turns the markdown docs into man pages (docs/man/CMakeLists.txt).
--  * Tables become tagged paragraphs (.TP): the first cell is the tag, every other cell is
--    "HEADER: value". Wide tables do not fit an 80-column terminal; man(7) readers expect lists.
--  * With metadata shift_headings=true, level-1 headings are dropped and the others move up a
--    level, so docs/CONFIG.md's "##" sections become the page's .SH sections (in capitals, as
--    man(7) has them) under the page's own NAME/SYNOPSIS head (written with "##" too).

local function cell_text(blocks)
  return pandoc.utils.stringify(pandoc.Div(blocks))
end

local function table_to_list(tbl)
  local simple = pandoc.utils.to_simple_table(tbl)
  local headers = {}
  for i, h in ipairs(simple.headers) do headers[i] = cell_text(h) end
  local items = {}
  for _, row in ipairs(simple.rows) do
    local term = {}
    for _, b in ipairs(row[1]) do
      if b.content then for _, inl in ipairs(b.content) do table.insert(term, inl) end end
    end
    local parts = {}
    for i = 2, #row do
      local inlines = {}
      for _, b in ipairs(row[i]) do
        if b.content then for _, inl in ipairs(b.content) do table.insert(inlines, inl) end end
      end
      if #inlines > 0 then
        local para = { pandoc.Emph(pandoc.Str(headers[i] .. ":")), pandoc.Space() }
        for _, inl in ipairs(inlines) do table.insert(para, inl) end
        table.insert(parts, pandoc.Plain(para))
        table.insert(parts, pandoc.Plain({ pandoc.LineBreak() }))
      end
    end
    if #parts > 0 then table.remove(parts) end  -- no break after the last line
    table.insert(items, { term, { parts } })
  end
  return pandoc.DefinitionList(items)
end

function Pandoc(doc)
  local shift = doc.meta.shift_headings and pandoc.utils.stringify(doc.meta.shift_headings) == "true"
  local blocks = pandoc.List()
  for _, b in ipairs(doc.blocks) do
    if b.t == "Table" then
      blocks:insert(table_to_list(b))
    elseif b.t == "Header" and shift then
      if b.level > 1 then
        b.level = b.level - 1
        if b.level == 1 then  -- man(7): section headings in capitals
          b = pandoc.walk_block(b, { Str = function(s) return pandoc.Str(s.text:upper()) end })
        end
        blocks:insert(b)
      end
    else
      blocks:insert(b)
    end
  end
  doc.blocks = blocks
  return doc
end
