"""5.4.2 Buying apples and oranges: multiply and add nodes, backward by hand.

Run: python examples/buy_apple_orange.py
"""

from chainrule import AddLayer, MulLayer


def main() -> None:
    apple, apple_num = 100, 2
    orange, orange_num = 150, 3
    tax = 1.1

    mul_apple_layer = MulLayer()
    mul_orange_layer = MulLayer()
    add_apple_orange_layer = AddLayer()
    mul_tax_layer = MulLayer()

    # forward (순전파)
    apple_price = mul_apple_layer.forward(apple, apple_num)
    orange_price = mul_orange_layer.forward(orange, orange_num)
    all_price = add_apple_orange_layer.forward(apple_price, orange_price)
    price = mul_tax_layer.forward(all_price, tax)

    # backward (역전파): the reverse order of forward
    dprice = 1
    dall_price, dtax = mul_tax_layer.backward(dprice)
    dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
    dorange, dorange_num = mul_orange_layer.backward(dorange_price)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)

    print(f"price: {price:.10g}")
    print(f"dApple: {dapple:.10g}")
    print(f"dApple_num: {dapple_num:.10g}")
    print(f"dOrange: {dorange:.10g}")
    print(f"dOrange_num: {dorange_num:.10g}")
    print(f"dTax: {dtax:.10g}")


if __name__ == "__main__":
    main()
